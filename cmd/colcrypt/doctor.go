package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// Outcomes of a doctor check. A warning leaves the exit code at 0: it
// names a risk (a readable key file, a quota nearly used), not a
// deployment that fails today.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
)

// errDoctorFailed is what doctor returns when a check failed; the report
// itself is the detail.
var errDoctorFailed = errors.New("doctor: checks failed")

// checkResult is one line of the doctor's report: what was checked (and
// on what: a master key name, a key file), how it went, why, and what to
// do about it. Nothing in it holds a key byte: master keys are named by
// their URI, never shown.
type checkResult struct {
	Check  string `json:"check"`
	Target string `json:"target,omitempty"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// doctorReport is doctor's output: OK is false when any check failed.
type doctorReport struct {
	OK     bool          `json:"ok"`
	Checks []checkResult `json:"checks"`
}

// quotaFlags are the cache settings and deployment size doctor weighs
// against the KMS quota. They are not read from the application (it may
// not run here): the operator states them, or the defaults are assumed.
type quotaFlags struct {
	tenants   int
	processes int
	ttl       time.Duration
	quota     float64 // KMS calls per minute; 0: not given
}

func (c *cli) doctorCmd() *cobra.Command {
	var q quotaFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment end to end: database, key table, master keys, clock, KMS quota",
		Long: `Check what colcrypt needs to work, end to end, and print one line per check
(ok, warn or fail, with the reason and what to do):

  database          reachable, and its version
  key_table         present, with the expected columns and the index that
                    allows one active version per tenant
  checkpoint_table  present (migrations need it)
  master_key        each master key (--kms and every --old-kms) wraps and
                    unwraps a random test blob under a doctor-only AAD; no
                    data key is ever unwrapped
  key_rows          live key rows per master key named in the key table;
                    rows naming a master key not given here will not open
  legacy_indexes    tenants whose blind index lookups also try data key
                    versions (colcrypt keys legacy-indexes)
  clock_skew        this host's clock against the database's
  kms_quota         KMS calls per minute the key cache will make (tenants x
                    processes / TTL) against --kms-quota
  key_file          permissions of local:// key files

It writes nothing. The exit code is 3 when any check failed, 0 otherwise
(warnings included).`,
		Example: `  colcrypt doctor --kms "$COLCRYPT_KMS" --old-kms awskms://alias/app-2025?region=eu-west-1
  colcrypt doctor --processes 12 --ttl 5m --kms-quota 330000 -o json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if q.tenants < 0 || q.processes < 1 || q.ttl <= 0 || q.quota < 0 {
				return usageErr("--tenants and --kms-quota must be ≥ 0, --processes ≥ 1, --ttl > 0")
			}
			rep, err := c.doctor(cmd.Context(), q)
			if err != nil {
				return err
			}
			if err := c.emit(rep, func(w io.Writer) { printReport(w, rep) }); err != nil {
				return err
			}
			if n := rep.failed(); n > 0 {
				return &exitError{code: exitProblems, err: fmt.Errorf("%w: %d of %d", errDoctorFailed, n, len(rep.Checks))}
			}
			return nil
		}),
	}
	c.kmsFlags(cmd)
	f := cmd.Flags()
	f.IntVar(&q.tenants, "tenants", 0, "tenants the application serves (default: the tenants with live keys in the key table)")
	f.IntVar(&q.processes, "processes", 1, "application processes, each with its own key cache")
	f.DurationVar(&q.ttl, "ttl", 5*time.Minute, "the application's key cache TTL (keystore.Tuning.CacheTTL; 5 minutes by default)")
	f.Float64Var(&q.quota, "kms-quota", 0, "KMS calls per minute the application may make (0: not checked)")
	return cmd
}

// printReport writes the report as a table, each fix on its own line
// under the check it belongs to.
func printReport(w io.Writer, rep doctorReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tTARGET\tDETAIL")
	for _, r := range rep.Checks {
		target := r.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Status, r.Check, target, r.Detail)
		if r.Fix != "" && r.Status != statusOK {
			fmt.Fprintf(tw, "\t\t\t→ %s\n", r.Fix)
		}
	}
	tw.Flush()
	warns := 0
	for _, r := range rep.Checks {
		if r.Status == statusWarn {
			warns++
		}
	}
	fmt.Fprintf(w, "%d checks: %d failed, %d warnings\n", len(rep.Checks), rep.failed(), warns)
}

// failed counts the failed checks.
func (rep doctorReport) failed() int {
	n := 0
	for _, r := range rep.Checks {
		if r.Status == statusFail {
			n++
		}
	}
	return n
}
