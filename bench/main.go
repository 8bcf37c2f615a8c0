// Command bench measures colcrypt against the alternatives a Go team would
// otherwise reach for, side by side in one process run:
//
//   - colcrypt, with a warm key cache and cold (every value the first use
//     of its tenant in a fresh keystore.Store);
//   - Google Tink's KMS envelope AEAD (aead.NewKMSEnvelopeAEAD2 over
//     tink-go-gcpkms), which makes and wraps a new data key per value;
//   - gocloud.dev/secrets over Cloud KMS, which sends every value to the KMS;
//   - raw AES-256-GCM from the standard library, the physical floor;
//
// with every Cloud KMS call going through the real client library over
// real gRPC to colcrypt's in-process fake Cloud KMS (insecurefakekms), at
// an injected KMS latency. Database scenarios on a local Postgres compare
// plaintext with colcrypt for GORM, pgx CopyFrom and column migration.
//
// Contenders run interleaved: every round runs each (contender, size) cell
// once, in an order rotated from round to round, so machine noise falls on
// all of them alike. See README.md for the columns and the method.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// config is what the flags set.
type config struct {
	scenarios  map[string]bool
	contenders map[string]bool
	sizes      []int
	latencies  []time.Duration
	tenants    int
	workers    int
	duration   time.Duration
	rounds     int

	dsn         string
	dbDuration  time.Duration
	copyRows    int
	migrateRows int

	output     string
	chart      string
	cpuprofile string
}

// scenarioNames are the groups --scenarios picks from.
var scenarioNames = []string{"kms", "gorm", "copy", "migrate"}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		scenarios   = fs.String("scenarios", strings.Join(scenarioNames, ","), "comma-separated scenario groups to run: "+strings.Join(scenarioNames, ", "))
		contenders  = fs.String("contenders", strings.Join(contenderNames(), ","), "comma-separated KMS-scenario contenders: "+strings.Join(contenderNames(), ", "))
		sizes       = fs.String("sizes", "64,1024", "comma-separated field value sizes in bytes")
		latencies   = fs.String("latencies", "0ms,5ms,20ms", "comma-separated KMS latencies injected into the fake Cloud KMS")
		tenants     = fs.Int("tenants", 100, "tenants the values are spread over")
		workers     = fs.Int("workers", 8, "goroutines per contender (and per GORM scenario)")
		duration    = fs.Duration("duration", time.Second, "measured time of one contender in one round of the KMS scenario")
		rounds      = fs.Int("rounds", 5, "interleaved rounds; every cell runs once per round")
		dsn         = fs.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "Postgres for the database scenarios; a scratch database is created on its server and dropped afterwards")
		dbDuration  = fs.Duration("db-duration", time.Second, "measured time of one variant in one round of the GORM and CopyFrom scenarios")
		copyRows    = fs.Int("copy-rows", 10000, "rows per pgx CopyFrom")
		migrateRows = fs.Int("migrate-rows", 20000, "rows of the table whose column the migration scenario encrypts")
		output      = fs.String("output", "table", "output format: table or json")
		chart       = fs.String("chart", filepath.Join("..", "docs", "bench-kms-latency.svg"), `SVG chart of throughput against KMS latency; "" for none`)
		cpuprofile  = fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run . [flags]\n\nSide-by-side benchmarks of colcrypt and its alternatives; see README.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := &config{
		tenants: *tenants, workers: *workers, duration: *duration, rounds: *rounds,
		dsn: *dsn, dbDuration: *dbDuration, copyRows: *copyRows, migrateRows: *migrateRows,
		output: *output, chart: *chart, cpuprofile: *cpuprofile,
	}
	var err error
	if cfg.scenarios, err = pickSet("scenario", *scenarios, scenarioNames); err != nil {
		return nil, err
	}
	if cfg.contenders, err = pickSet("contender", *contenders, contenderNames()); err != nil {
		return nil, err
	}
	for _, s := range splitList(*sizes) {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 || n > 64<<10 {
			return nil, fmt.Errorf("--sizes: %q is not a size in [1, 65536]", s)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	for _, s := range splitList(*latencies) {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--latencies: %q is not a non-negative duration", s)
		}
		cfg.latencies = append(cfg.latencies, d)
	}
	switch {
	case cfg.scenarios["kms"] && (len(cfg.sizes) == 0 || len(cfg.latencies) == 0):
		return nil, errors.New("--sizes and --latencies need at least one entry each")
	case cfg.tenants < 1:
		return nil, errors.New("--tenants must be at least 1")
	case cfg.workers < 1:
		return nil, errors.New("--workers must be at least 1")
	case cfg.rounds < 1:
		return nil, errors.New("--rounds must be at least 1")
	case cfg.duration <= 0 || cfg.dbDuration <= 0:
		return nil, errors.New("--duration and --db-duration must be positive")
	case cfg.copyRows < 1 || cfg.migrateRows < 1:
		return nil, errors.New("--copy-rows and --migrate-rows must be at least 1")
	case cfg.output != "table" && cfg.output != "json":
		return nil, fmt.Errorf("--output: %q is neither table nor json", cfg.output)
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func pickSet(what, list string, known []string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, p := range splitList(list) {
		ok := false
		for _, k := range known {
			ok = ok || k == p
		}
		if !ok {
			return nil, fmt.Errorf("unknown %s %q (known: %s)", what, p, strings.Join(known, ", "))
		}
		set[p] = true
	}
	return set, nil
}

// report is everything a run measured; --output json prints it as is.
type report struct {
	Started   time.Time `json:"started"`
	GoVersion string    `json:"go_version"`
	GOOS      string    `json:"goos"`
	GOARCH    string    `json:"goarch"`
	CPUs      int       `json:"cpus"`
	// LoadStart and LoadEnd are the machine's load averages (1, 5, 15
	// minutes) when the run began and ended: other work on the machine
	// is the first suspect for a surprising number.
	LoadStart string     `json:"loadavg_start,omitempty"`
	LoadEnd   string     `json:"loadavg_end,omitempty"`
	Config    configJSON `json:"config"`

	KMS     []kmsResult `json:"kms,omitempty"`
	DB      []dbResult  `json:"db,omitempty"`
	DBNote  string      `json:"db_note,omitempty"`
	Goals   []goal      `json:"goals,omitempty"`
	Chart   string      `json:"chart,omitempty"`
	Elapsed float64     `json:"elapsed_seconds"`
}

type configJSON struct {
	Scenarios   []string  `json:"scenarios"`
	Contenders  []string  `json:"contenders"`
	Sizes       []int     `json:"sizes"`
	LatenciesMS []float64 `json:"latencies_ms"`
	Tenants     int       `json:"tenants"`
	Workers     int       `json:"workers"`
	DurationS   float64   `json:"duration_seconds"`
	Rounds      int       `json:"rounds"`
	DBDurationS float64   `json:"db_duration_seconds"`
	CopyRows    int       `json:"copy_rows"`
	MigrateRows int       `json:"migrate_rows"`
}

func (c *config) json() configJSON {
	j := configJSON{
		Sizes: c.sizes, Tenants: c.tenants, Workers: c.workers, DurationS: c.duration.Seconds(),
		Rounds: c.rounds, DBDurationS: c.dbDuration.Seconds(), CopyRows: c.copyRows, MigrateRows: c.migrateRows,
	}
	for _, s := range scenarioNames {
		if c.scenarios[s] {
			j.Scenarios = append(j.Scenarios, s)
		}
	}
	for _, n := range contenderNames() {
		if c.contenders[n] {
			j.Contenders = append(j.Contenders, n)
		}
	}
	for _, l := range c.latencies {
		j.LatenciesMS = append(j.LatenciesMS, ms(l))
	}
	return j
}

func run(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	start := time.Now()
	rep := &report{
		Started: start.UTC(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.GOMAXPROCS(0), Config: cfg.json(), LoadStart: loadavg(),
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	if cfg.scenarios["kms"] && len(cfg.contenders) > 0 {
		res, err := runKMS(ctx, cfg, progress)
		if err != nil {
			return err
		}
		rep.KMS = res
		rep.Goals = evaluateGoals(res, cfg.tenants)
		if cfg.chart != "" {
			if err := writeChart(cfg.chart, res, cfg); err != nil {
				progress("note: chart not written: %v", err)
			} else {
				rep.Chart = cfg.chart
			}
		}
	}
	if cfg.scenarios["gorm"] || cfg.scenarios["copy"] || cfg.scenarios["migrate"] {
		res, note, err := runDB(ctx, cfg, progress)
		if err != nil {
			return err
		}
		rep.DB, rep.DBNote = res, note
	}
	rep.Elapsed = time.Since(start).Seconds()
	rep.LoadEnd = loadavg()

	if cfg.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printTables(stdout, rep, cfg)
}

// loadavg returns the 1, 5 and 15 minute load averages, or "" where
// /proc/loadavg does not exist.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
