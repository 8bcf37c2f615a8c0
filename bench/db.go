package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// dbResult is one variant of one database scenario, summed over rounds.
type dbResult struct {
	Scenario     string    `json:"scenario"`
	Variant      string    `json:"variant"`
	Plaintext    bool      `json:"plaintext_reference"`
	Rows         int64     `json:"rows"`
	Ops          int64     `json:"ops"`
	Seconds      float64   `json:"seconds"`
	RowsPerSec   float64   `json:"rows_per_second"`
	RoundRates   []float64 `json:"round_rows_per_second,omitempty"`
	VsPlaintext  float64   `json:"vs_plaintext,omitempty"`
	AllocsPerRow float64   `json:"allocs_per_row,omitempty"`
	Note         string    `json:"note,omitempty"`

	mallocs uint64
}

// dbVariant is one way of doing a scenario's work.
type dbVariant struct {
	scenario, variant string
	plaintext         bool // the scenario's reference for "vs plaintext"
	note              string
	// unavailable, if set, says why the variant cannot run; it is
	// reported, not measured.
	unavailable string
	// workers run op concurrently until the round's time is up; with
	// once, a round is one op (prepare is still untimed).
	workers int
	once    bool
	prepare func(ctx context.Context) error
	op      func(ctx context.Context, worker int, i int64) (rows int, err error)
}

// dbEnv is the scratch database and what every scenario shares.
type dbEnv struct {
	admin   string // the --dsn, for CREATE and DROP DATABASE
	name    string // the scratch database
	server  string // version and address, for the report
	sqlDB   *sql.DB
	keyDB   *sql.DB // the key store's own pool: gormplugin refuses one shared with GORM
	pool    *pgxpool.Pool
	srv     *insecurefakekms.Server
	kek     *kms.Keeper
	store   *keystore.Store
	enc     *field.Encryptor
	tenants []string
}

// runDB runs the database scenarios, or returns a note saying why they
// were skipped.
func runDB(ctx context.Context, cfg *config, progress func(string, ...any)) ([]dbResult, string, error) {
	env, note, err := newDBEnv(ctx, cfg)
	if err != nil || env == nil {
		return nil, note, err
	}
	defer env.close()
	progress("db: %s", note)

	var vs []*dbVariant
	if cfg.scenarios["gorm"] {
		g, err := gormVariants(ctx, env, cfg)
		if err != nil {
			return nil, "", fmt.Errorf("gorm scenario setup: %w", err)
		}
		vs = append(vs, g...)
	}
	if cfg.scenarios["copy"] {
		c, err := copyVariants(ctx, env, cfg)
		if err != nil {
			return nil, "", fmt.Errorf("copy scenario setup: %w", err)
		}
		vs = append(vs, c...)
	}
	if cfg.scenarios["migrate"] {
		m, err := migrateVariants(ctx, env, cfg)
		if err != nil {
			return nil, "", fmt.Errorf("migrate scenario setup: %w", err)
		}
		vs = append(vs, m...)
	}

	res := make([]dbResult, len(vs))
	var runnable []int
	for i, v := range vs {
		res[i] = dbResult{Scenario: v.scenario, Variant: v.variant, Plaintext: v.plaintext, Note: v.note}
		if v.unavailable != "" {
			res[i].Note = v.unavailable
			continue
		}
		runnable = append(runnable, i)
	}
	elapsed := make([]time.Duration, len(vs))
	for r := range cfg.rounds {
		for j := range runnable {
			i := runnable[(j+r)%len(runnable)]
			v := vs[i]
			rows, ops, el, mallocs, err := runDBRound(ctx, v, cfg.dbDuration)
			if err != nil {
				return nil, "", fmt.Errorf("%s / %s: %w", v.scenario, v.variant, err)
			}
			rate := float64(rows) / el.Seconds()
			res[i].Rows += rows
			res[i].Ops += ops
			res[i].mallocs += mallocs
			res[i].RoundRates = append(res[i].RoundRates, rate)
			elapsed[i] += el
			progress("db: round %d/%d  %-12s %-44s %10s rows/s", r+1, cfg.rounds, v.scenario, v.variant, fmtCount(rate))
		}
	}
	ref := map[string]float64{}
	for i := range res {
		if res[i].Rows > 0 {
			res[i].Seconds = elapsed[i].Seconds()
			res[i].RowsPerSec = float64(res[i].Rows) / res[i].Seconds
			res[i].AllocsPerRow = float64(res[i].mallocs) / float64(res[i].Rows)
			if res[i].Plaintext {
				ref[res[i].Scenario] = res[i].RowsPerSec
			}
		}
	}
	for i := range res {
		if p := ref[res[i].Scenario]; p > 0 && res[i].RowsPerSec > 0 {
			res[i].VsPlaintext = res[i].RowsPerSec / p
		}
	}
	return res, note, nil
}

// runDBRound runs one variant for one round and returns the rows done,
// the ops, the time measured and the heap allocations in that time.
func runDBRound(ctx context.Context, v *dbVariant, d time.Duration) (rows, ops int64, elapsed time.Duration, mallocs uint64, err error) {
	if v.prepare != nil {
		if err := v.prepare(ctx); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("prepare: %w", err)
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	if v.once {
		n, err := v.op(ctx, 0, 0)
		elapsed = time.Since(start)
		runtime.ReadMemStats(&after)
		return int64(n), 1, elapsed, after.Mallocs - before.Mallocs, err
	}
	var (
		stop     atomic.Bool
		failed   atomic.Bool
		next     atomic.Int64
		total    atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	for w := range max(v.workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && !failed.Load() {
				n, err := v.op(ctx, w, next.Add(1)-1)
				if err != nil {
					failed.Store(true)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				total.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	return total.Load(), next.Load(), elapsed, after.Mallocs - before.Mallocs, firstErr
}

// newDBEnv creates a scratch database on the server of cfg.dsn. If the
// server cannot be reached it returns a nil env and a note.
func newDBEnv(ctx context.Context, cfg *config) (_ *dbEnv, note string, err error) {
	base, err := pgx.ParseConfig(cfg.dsn)
	if err != nil {
		return nil, "", fmt.Errorf("--dsn: %w", err)
	}
	addr := fmt.Sprintf("%s:%d", base.Host, base.Port)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	admin, err := pgx.ConnectConfig(cctx, base)
	if err != nil {
		return nil, fmt.Sprintf("skipped: no Postgres reachable at %s (%v); pass --dsn", addr, err), nil
	}
	defer admin.Close(context.Background())
	var version string
	if err := admin.QueryRow(cctx, "SHOW server_version").Scan(&version); err != nil {
		return nil, "", err
	}
	var b [6]byte
	rand.Read(b[:])
	e := &dbEnv{admin: cfg.dsn, name: "colcrypt_bench_" + hex.EncodeToString(b[:]), server: "Postgres " + version + " at " + addr}
	if _, err := admin.Exec(cctx, "CREATE DATABASE "+e.name); err != nil {
		return nil, "", fmt.Errorf("creating the scratch database: %w", err)
	}
	defer func() {
		if err != nil {
			e.close()
		}
	}()

	scratch := base.Copy()
	scratch.Database = e.name
	e.sqlDB = stdlib.OpenDB(*scratch)
	e.sqlDB.SetMaxIdleConns(32)
	e.keyDB = stdlib.OpenDB(*scratch)
	pcfg, err := pgxpool.ParseConfig(cfg.dsn)
	if err != nil {
		return nil, "", err
	}
	pcfg.ConnConfig.Database = e.name
	if e.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, "", err
	}

	// The database scenarios measure the database path, not the KMS: the
	// fake runs without latency and every tenant's key is cached first.
	if e.srv, err = insecurefakekms.New(keyName); err != nil {
		return nil, "", err
	}
	// gocloud's secrets driver sends no request checksums; the fake
	// requires them unless told to accept their absence.
	e.srv.SetFaults(insecurefakekms.Faults{LenientChecksums: true})
	if e.kek, err = kms.Open(ctx, e.srv.KeyURI(keyName)); err != nil {
		return nil, "", err
	}
	if err = keystore.CreateTable(ctx, e.sqlDB, keystore.WithDialect("postgres")); err != nil {
		return nil, "", err
	}
	if e.store, err = keystore.New(e.keyDB, e.kek); err != nil {
		return nil, "", err
	}
	e.enc = field.NewEncryptor(e.store)
	for i := range cfg.tenants {
		t := fmt.Sprintf("tenant-%03d", i)
		e.tenants = append(e.tenants, t)
		if _, err = e.store.Active(ctx, t); err != nil {
			return nil, "", err
		}
	}
	note = fmt.Sprintf("%s, scratch database %s (dropped afterwards); %d rounds, %v per GORM/CopyFrom variant; keys of %d tenants cached first",
		e.server, e.name, cfg.rounds, cfg.dbDuration, cfg.tenants)
	return e, note, nil
}

func (e *dbEnv) exec(ctx context.Context, qs ...string) error {
	for _, q := range qs {
		if _, err := e.sqlDB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func (e *dbEnv) close() {
	if e.store != nil {
		e.store.Close()
	}
	if e.kek != nil {
		e.kek.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.keyDB != nil {
		e.keyDB.Close()
	}
	if e.sqlDB != nil {
		e.sqlDB.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if admin, err := pgx.Connect(ctx, e.admin); err == nil {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+e.name+" WITH (FORCE)")
		admin.Close(ctx)
	}
}

// fieldValues are the row contents every database scenario writes: a
// 64-byte name and a ~30-byte email, like the personal data colcrypt is for.
func fieldValues(i int64) (name, email string) {
	return fmt.Sprintf("%-64s", fmt.Sprintf("Customer Name %010d", i)), fmt.Sprintf("user%08d@example-mail.com", i%100000000)
}
