package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/migrate"
)

// columnFlags name a column and how its rows' tenants are found.
type columnFlags struct {
	table, column, pk          string
	tenantColumn, tenant       string
	bindColumn                 string
	scopeTable, scopeColumn    string
	blindIndex, normalize      string
	indexKey                   string
	bidxLen                    int
	withTenant, withBlindIndex bool
	// columns are every --column given, in order (column is the first);
	// multi: the command takes more than one (one job over several
	// columns of the table).
	columns []string
	multi   bool
}

// columnList is the --column flag: repeatable, the first one also kept
// as the column of commands that take one.
type columnList struct{ f *columnFlags }

func (c columnList) String() string { return strings.Join(c.f.columns, ",") }
func (c columnList) Type() string   { return "string" }
func (c columnList) Set(v string) error {
	c.f.columns = append(c.f.columns, v)
	c.f.column = c.f.columns[0]
	return nil
}

func (f *columnFlags) register(cmd *cobra.Command, withTenant bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.table, "table", "", `table ("schema.table" allowed)`)
	fs.Var(columnList{f}, "column", "the column to migrate or check (for encrypt: the plaintext column read); repeat it on encrypt, decrypt and reencrypt to migrate several columns of the table in one pass")
	fs.StringVar(&f.pk, "pk", "", "unique, orderable column that pages the table (default: the primary key)")
	fs.StringVar(&f.tenantColumn, "tenant-column", "", "column holding each row's tenant id")
	if withTenant {
		fs.StringVar(&f.tenant, "tenant", "", "one fixed tenant id for every row (single-tenant tables)")
		f.withTenant = true
	}
	fs.StringVar(&f.scopeTable, "scope-table", "", "table name bound into each value, if the application uses another (default: --table without its schema)")
	fs.StringVar(&f.scopeColumn, "scope-column", "", "column name bound into each value, if the application uses another (default: the ciphertext column)")
	fs.StringVar(&f.bindColumn, "bind-column", "", "column whose value binds each value to its row (a UUID or natural key; the application reads the column with bind:<Field>)")
}

func (f *columnFlags) registerBlindIndex(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.blindIndex, "blind-index", "", "bytea/BLOB column that holds the blind index")
	fs.StringVar(&f.normalize, "normalize", "", "blind index normalizers, comma-separated, applied in order (lower, upper, trim, space, nfkc, digits, alnum)")
	fs.IntVar(&f.bidxLen, "bidx-len", 0, "blind index length in bytes (default 16)")
	fs.StringVar(&f.indexKey, "index-key", "stable", "the key the blind index is taken under, as the tag's indexkey option: stable or auto (the tenant's index key), legacy (its data key version), migrating (stable), rotating (the index key version before the active one)")
	f.withBlindIndex = true
}

// check reports missing or contradicting flags as usage errors.
func (f *columnFlags) check(needTenant bool) error {
	if f.table == "" || f.column == "" {
		return usageErr("give --table and --column")
	}
	if len(f.columns) > 1 && !f.multi {
		return usageErr("this command takes one --column")
	}
	if f.tenantColumn != "" && f.tenant != "" {
		return usageErr("give --tenant-column or --tenant, not both")
	}
	if needTenant && f.tenantColumn == "" && f.tenant == "" {
		return usageErr("say whose rows these are: --tenant-column <column>, or --tenant <id> for a single-tenant table")
	}
	if f.blindIndex == "" && (f.normalize != "" || f.bidxLen != 0 || (f.indexKey != "" && f.indexKey != "stable")) {
		return usageErr("--normalize, --bidx-len and --index-key need --blind-index")
	}
	return nil
}

func (f *columnFlags) job() migrate.Job {
	return migrate.Job{
		Table: f.table, Column: f.column, PK: f.pk,
		TenantColumn: f.tenantColumn, Tenant: f.tenant,
		ScopeTable: f.scopeTable, ScopeColumn: f.scopeColumn,
		BindColumn: f.bindColumn,
	}
}

func (f *columnFlags) blindIndexSpec() (*field.BlindIndex, error) {
	if f.blindIndex == "" {
		return nil, nil
	}
	var ns []string
	for _, n := range strings.FieldsFunc(f.normalize, func(r rune) bool { return r == ',' || r == '+' }) {
		ns = append(ns, strings.TrimSpace(n))
	}
	b, err := field.NewBlindIndex(f.blindIndex, f.bidxLen, ns...)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	switch f.indexKey {
	case "", "stable", "auto":
		// A migration only writes, and both write under the index key.
		b.Keying = field.IndexStable
	case "legacy":
		b.Keying = field.IndexLegacy
	case "migrating":
		b.Keying = field.IndexMigrating
	case "rotating":
		b.Keying = field.IndexRotating
	default:
		return nil, usageErr("--index-key %q: want stable, auto, legacy, migrating or rotating", f.indexKey)
	}
	return b, nil
}

func (c *cli) migrateCmd() *cobra.Command {
	return group("migrate", "Encrypt, re-encrypt, decrypt and verify columns online, resumably",
		c.runCmd(migrate.Encrypt), c.runCmd(migrate.Reencrypt), c.runCmd(migrate.Decrypt), c.runCmd(migrate.Reindex), c.runCmd(migrate.Index),
		c.verifyCmd(), c.statusCmd(), c.forgetCmd())
}

var runDocs = map[migrate.Kind]struct{ short, long, example string }{
	migrate.Encrypt: {
		short: "Encrypt an existing plaintext column, into a new column or in place",
		long: `Encrypt every plaintext value of --column with its row's tenant key.

With --to-column the ciphertext goes into another, existing column (bytea/BLOB,
or text with armor) and the source is left for you to drop later; without it the
column is encrypted in place, which needs a column that can hold ciphertext:
bytea/BLOB, or text (values are then text-armored).

Rows are read in batches in primary-key order and written back with a
compare-and-set: a row the application changed since it was read is re-read,
never overwritten. Values already encrypted are skipped, never encrypted twice;
plaintext that merely looks like a colcrypt value is left alone and reported.
Progress is checkpointed per batch: if the command is stopped or killed, run it
again to continue. Several processes may run the same job at once.

--index fills a named index (GORM's index:<name>,parts:… tag, sqltypes.NewIndex)
in the same write as the value: its parts name columns of the table, the
migrated ones (their plaintext) or plain text, binary or integer columns (as
they are); the first --column must be one of its parts. Rows already encrypted
get their index filled from their decrypted value. Named indexes are always
taken under the tenant's index key; --index-key is about --blind-index only.`,
		example: `  colcrypt migrate encrypt --table users --column email --to-column email_enc \
      --tenant-column tenant_id --blind-index email_bidx --normalize lower,trim
  colcrypt migrate encrypt --table users --column ssn --tenant acme --mode deterministic
  colcrypt migrate encrypt --table users --column email --column note --tenant-column tenant_id   # two columns, one pass
  colcrypt migrate encrypt --table users --column email --tenant-column tenant_id \
      --batch-size 2000 --workers 4 --rate 20000
  colcrypt migrate encrypt --table users --column email --tenant-column tenant_id --dry-run
  colcrypt migrate encrypt --table applicants --column ssn --column zip --tenant-column tenant_id \
      --index 'name=ssn_zip,column=ssn_zip_idx,parts=ssn/digits/last4+zip/trim,bits=32'`,
	},
	migrate.Reencrypt: {
		short: "Re-encrypt values under each tenant's active key version (after keys rotate)",
		long: `Re-encrypt every value of --column that is not under its tenant's active key
version, in place, keeping each value's mode (randomized or deterministic) and
form (binary or text armor); values already on the active version are skipped.
With --blind-index the index is recomputed in the same write. Afterwards
"colcrypt keys list --table ... --column ..." shows no rows on old versions.
Resumable and safe to run while the application serves, like encrypt.`,
		example: `  colcrypt keys rotate --all
  colcrypt migrate reencrypt --table users --column email_enc --tenant-column tenant_id --blind-index email_bidx --normalize lower`,
	},
	migrate.Reindex: {
		short: "Rewrite a column's blind index under its index key (after changing its keying or rotating the index key)",
		long: `Recompute the blind index of every encrypted value of --column into the
--blind-index column, under the key --index-key names, skipping rows whose index
is already right; the values themselves are written back unchanged under the
same compare-and-set as every migration. Two uses (docs/ROTATING.md):

  - moving an index written before index keys (indexkey:legacy) to the
    tenant's index key, in place, while the application runs with
    indexkey:migrating;
  - filling a new index column under a rotated index key ("keys rotate
    --index-key"), while the application keeps the old column on
    indexkey:rotating.

Resumable and safe to run while the application serves, like encrypt.`,
		example: `  colcrypt migrate reindex --table users --column email_enc --tenant-column tenant_id \
      --blind-index email_bidx --normalize lower
  colcrypt keys rotate --all --index-key
  colcrypt migrate reindex --table users --column email_enc --tenant-column tenant_id \
      --blind-index email_bidx2 --normalize lower`,
	},
	migrate.Index: {
		short: "Fill named or compound indexes over columns already encrypted",
		long: `Compute each --index over the rows of --table, decrypting the parts that name
an encrypted --column, and write it into its existing binary index column;
rows whose indexes are already right are skipped, and the values are written
back unchanged under the same compare-and-set as every migration. Use it to add
an index (a GORM index:<name>,parts:… field, a sqltypes.NewIndex) to a table
encrypted earlier: add the column, deploy the model that declares the index
(new writes fill it), then run this to fill the rows written before.

Give every encrypted column a part reads with --column, the first being a part
of every index; a part naming another column reads it as it is (text, binary or
integer). The bytes are the GORM plugin's for the same index name, transforms,
order and bits. Named indexes are always under the tenant's index key.
Resumable and safe to run while the application serves, like encrypt.`,
		example: `  colcrypt migrate index --table applicants --column ssn --column zip --tenant-column tenant_id \
      --index 'name=ssn_zip,column=ssn_zip_idx,parts=ssn/digits/last4+zip/trim,bits=32'
  colcrypt migrate index --table applicants --column ssn --tenant-column tenant_id \
      --index 'name=ssn_last4,parts=ssn/digits/last4,bits=24' --index 'name=ssn_full,parts=ssn/digits,bits=64'`,
	},
	migrate.Decrypt: {
		short: "Decrypt a column back to plaintext, in place or into another column",
		long: `Decrypt every colcrypt value of --column, in place or into --to-column: the way
out of colcrypt. Plaintext values already there are skipped. Resumable and safe
to run while the application serves, like encrypt.`,
		example: `  colcrypt migrate decrypt --table users --column email --tenant-column tenant_id
  colcrypt migrate decrypt --table users --column email_enc --to-column email --tenant-column tenant_id`,
	},
}

func (c *cli) runCmd(kind migrate.Kind) *cobra.Command {
	var (
		col                 columnFlags
		toColumns, indexes  []string
		mode, jobID         string
		armor, dry, restart bool
		o                   migrate.RunOptions
	)
	doc := runDocs[kind]
	cmd := &cobra.Command{
		Use:     string(kind),
		Short:   doc.short,
		Long:    doc.long,
		Example: doc.example,
		Args:    cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := col.check(true); err != nil {
				return err
			}
			job := col.job()
			job.Kind, job.ID, job.Armor = kind, jobID, armor
			if len(toColumns) > 0 && len(toColumns) != len(col.columns) {
				return usageErr("give one --to-column per --column, in the same order, or none")
			}
			if len(toColumns) > 0 {
				job.ToColumn = toColumns[0]
			}
			for i, c := range col.columns[1:] {
				pair := migrate.ColumnPair{Column: c}
				if len(toColumns) > 0 {
					pair.ToColumn = toColumns[i+1]
				}
				job.Also = append(job.Also, pair)
			}
			switch mode {
			case "", "randomized":
			case "deterministic":
				job.Mode = field.Deterministic
			default:
				return usageErr("--mode must be randomized or deterministic, not %q", mode)
			}
			var err error
			if job.BlindIndex, err = col.blindIndexSpec(); err != nil {
				return err
			}
			if kind == migrate.Index && len(indexes) == 0 {
				return usageErr("give the index to fill with --index")
			}
			if job.Indexes, err = parseIndexFlags(indexes); err != nil {
				return err
			}
			if err := checkRunFlags(col, toColumns, o); err != nil {
				return err
			}
			o.DryRun, o.Restart = dry, restart
			k, err := c.open(ctx, withKMS)
			if err != nil {
				return err
			}
			defer k.Close()

			desc := string(kind) + " " + job.Table + "." + job.Column
			if job.ToColumn != "" {
				desc += "->" + job.ToColumn
			}
			for _, c := range job.Also {
				desc += "," + c.Column
				if c.ToColumn != "" {
					desc += "->" + c.ToColumn
				}
			}
			desc += describeIndexes(job.Indexes)
			pv := c.progress(desc)
			o.Progress = pv.update
			res, err := k.m.Run(ctx, job, o)
			pv.finish(err == nil && res != nil && res.Done)
			if res != nil {
				if perr := c.printResult(desc, res); perr != nil && err == nil {
					err = perr
				}
			}
			return runExit(err)
		}),
	}
	col.register(cmd, true)
	c.kmsFlags(cmd)
	c.progressFlag(cmd)
	col.multi = true
	f := cmd.Flags()
	if kind != migrate.Reencrypt && kind != migrate.Reindex && kind != migrate.Index {
		f.StringArrayVar(&toColumns, "to-column", nil, "write into this existing column instead of in place (with several --column: one --to-column each, in order)")
	}
	if kind == migrate.Encrypt {
		f.StringVar(&mode, "mode", "randomized", "randomized (AES-GCM) or deterministic (AES-SIV, allows SQL equality; leaks which rows are equal)")
	}
	if kind != migrate.Decrypt && kind != migrate.Index {
		col.registerBlindIndex(cmd)
		f.BoolVar(&armor, "armor", false, "write text armor even into a binary column (text columns always get it)")
	}
	if kind == migrate.Encrypt || kind == migrate.Index {
		f.StringArrayVar(&indexes, "index", nil, indexFlagHelp)
	}
	f.StringVar(&jobID, "job", "", "job id in the checkpoint table (default: derived from the kind, table and columns)")
	f.IntVar(&o.BatchSize, "batch-size", 1000, "rows per batch (one transaction each)")
	f.IntVar(&o.Workers, "workers", 1, "concurrent batches in this process")
	f.Float64Var(&o.RowsPerSecond, "rate", 0, "limit this process to this many rows per second (0: no limit)")
	f.BoolVar(&dry, "dry-run", false, "read and check every row, count what would change, write nothing")
	f.BoolVar(&restart, "restart", false, "run a job the checkpoint records as done again from the start")
	return cmd
}

// runExit maps a migration's error to its exit code.
func runExit(err error) error {
	switch {
	case err == nil:
		return nil
	case interrupted(err):
		return &exitError{code: exitInterrupted, err: err}
	case errors.Is(err, migrate.ErrRowsFailed):
		return &exitError{code: exitProblems, err: err}
	case errors.Is(err, migrate.ErrInvalidJob):
		return &exitError{code: exitUsage, err: err}
	}
	return err
}

// resultJSON is a Result with its rate. Done shadows the Result's: a dry
// run finishes nothing, and a script that reads "done": true must be able
// to trust that the column was migrated.
type resultJSON struct {
	*migrate.Result
	Done          bool    `json:"done"`
	RowsPerSecond float64 `json:"rows_per_second"`
}

func (c *cli) printResult(desc string, r *migrate.Result) error {
	rate := float64(r.ThisRun) / max(r.Duration.Seconds(), 1e-3)
	return c.emit(resultJSON{r, r.Done && !r.DryRun, rate}, func(w io.Writer) {
		state := "done"
		switch {
		case r.DryRun:
			state = "dry run, nothing written"
		case r.Recheck != nil && r.Recheck.Updated > 0:
			state = fmt.Sprintf("finished earlier, but a re-check of %d rows found %d %s: run again with --restart to process them",
				r.Recheck.Scanned, r.Recheck.Updated, leftWord(r.Kind))
		case r.Recheck != nil:
			state = fmt.Sprintf("done (finished earlier; re-checked %d rows: 0 %s, nothing to do)", r.Recheck.Scanned, leftWord(r.Kind))
		case !r.Done:
			state = "not finished (run again to resume)"
		}
		fmt.Fprintf(w, "%s: %s\n", desc, state)
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
		verb := "sealed"
		switch r.Kind {
		case migrate.Decrypt:
			verb = "decrypted"
		case migrate.Index, migrate.Reindex:
			verb = "indexed"
		}
		if r.DryRun {
			verb = "would be " + verb
		}
		fmt.Fprintf(w, "  scanned    %d\n  %-10s %d\n  skipped    %d (already done)\n  null       %d\n  failed     %d\n",
			r.Scanned, verb, r.Updated, r.Skipped, r.Null, r.Failed)
		fmt.Fprintf(w, "  re-read    %d (a concurrent write won the compare-and-set; read again)\n  given up   %d (kept changing under concurrent writes)\n  left       %d (%s left behind)\n",
			r.Rereads, r.Conflicts, r.Left, leftWord(r.Kind))
		fmt.Fprintf(w, "  this run   %d rows in %v (%.0f rows/s)\n", r.ThisRun, r.Duration.Round(time.Millisecond), rate)
		printFailures(w, r.Failures, false)
	})
}

// leftWord names what a job of kind leaves behind when a row fails.
func leftWord(kind migrate.Kind) string {
	switch kind {
	case migrate.Decrypt:
		return "encrypted"
	case migrate.Reencrypt:
		return "on an old key version"
	case migrate.Reindex:
		return "with their old blind index"
	case migrate.Index:
		return "without their named indexes"
	}
	return "plaintext"
}

func printFailures(w io.Writer, fs []migrate.Failure, truncated bool) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(w, "  failing rows (first %d):\n", len(fs))
	for _, f := range fs {
		if f.Tenant != "" {
			fmt.Fprintf(w, "    pk %s (tenant %s): %s\n", f.PK, f.Tenant, f.Reason)
		} else {
			fmt.Fprintf(w, "    pk %s: %s\n", f.PK, f.Reason)
		}
	}
	if truncated {
		fmt.Fprintln(w, "    …")
	}
}

// reportJSON is a Report with its verdict.
type reportJSON struct {
	*migrate.Report
	OK bool `json:"ok"`
}

func (c *cli) verifyCmd() *cobra.Command {
	var (
		col     columnFlags
		expect  string
		indexes []string
		o       migrate.RunOptions
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that every value of a column decrypts; count plaintext, NULL and failing values",
		Long: `Scan --column and open every value with its row's tenant key. Reports counts of
encrypted, plaintext, NULL and failing values (failing: tampered, another
tenant's or column's value, a shredded tenant, plaintext that looks like a
colcrypt value), values per key version, and the primary keys of failing rows.
With --blind-index it also checks each row's blind index, with --index each
named index (the encrypted columns its parts read given as more --column).

Exit code 3 when anything fails, or when plaintext is found and --expect is
encrypted (the default); --expect plaintext checks the result of a decrypt.`,
		Example: `  colcrypt migrate verify --table users --column email_enc --tenant-column tenant_id
  colcrypt migrate verify --table users --column email_enc --tenant-column tenant_id --blind-index email_bidx --normalize lower
  colcrypt migrate verify --table users --column email --tenant-column tenant_id --expect plaintext --output json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := col.check(true); err != nil {
				return err
			}
			job := col.job()
			switch expect {
			case "encrypted":
				job.Kind = migrate.Encrypt
			case "plaintext":
				job.Kind = migrate.Decrypt
			case "any":
				o.OpenOnly = true
			default:
				return usageErr("--expect must be encrypted, plaintext or any, not %q", expect)
			}
			var err error
			if job.BlindIndex, err = col.blindIndexSpec(); err != nil {
				return err
			}
			if job.Indexes, err = parseIndexFlags(indexes); err != nil {
				return err
			}
			if len(col.columns) > 1 && len(indexes) == 0 {
				return usageErr("verify checks one --column; more name the encrypted columns of --index parts")
			}
			for _, c := range col.columns[1:] {
				job.Also = append(job.Also, migrate.ColumnPair{Column: c})
			}
			k, err := c.open(ctx, withKMS)
			if err != nil {
				return err
			}
			defer k.Close()
			desc := "verify " + job.Table + "." + job.Column
			pv := c.progress(desc)
			o.Progress = pv.update
			rep, err := k.m.Verify(ctx, job, o)
			pv.finish(rep != nil && !interrupted(err))
			if errors.Is(err, migrate.ErrRowsFailed) {
				err = verifyFailed{err}
			}
			if rep != nil {
				if perr := c.printReport(desc, rep, err == nil); perr != nil && err == nil {
					err = perr
				}
			}
			return runExit(err)
		}),
	}
	col.register(cmd, true)
	col.registerBlindIndex(cmd)
	col.multi = true
	c.kmsFlags(cmd)
	c.progressFlag(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&indexes, "index", nil, indexFlagHelp)
	f.StringVar(&expect, "expect", "encrypted", "what the column should hold: encrypted, plaintext or any")
	f.IntVar(&o.MaxFailures, "max-failures", 100, "list at most this many failing rows")
	f.IntVar(&o.BatchSize, "batch-size", 5000, "rows per query")
	return cmd
}

// printReport writes what Verify found; ok is whether the column holds
// what was expected.
func (c *cli) printReport(desc string, r *migrate.Report, ok bool) error {
	return c.emit(reportJSON{r, ok}, func(w io.Writer) {
		verdict := "OK"
		if !ok {
			verdict = "PROBLEMS FOUND"
		}
		fmt.Fprintf(w, "%s: %s\n", desc, verdict)
		fmt.Fprintf(w, "  rows       %d\n  encrypted  %d\n  plaintext  %d\n  null       %d\n  failing    %d\n",
			r.Rows, r.Encrypted, r.Plaintext, r.Null, r.Failed)
		if r.BlindIndexMismatch > 0 {
			fmt.Fprintf(w, "  blind index mismatches %d\n", r.BlindIndexMismatch)
		}
		if r.IndexMismatch > 0 {
			fmt.Fprintf(w, "  named index mismatches %d\n", r.IndexMismatch)
		}
		versions := make([]uint32, 0, len(r.Versions))
		for v := range r.Versions {
			versions = append(versions, v)
		}
		sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
		for _, v := range versions {
			fmt.Fprintf(w, "  key version %d: %d values\n", v, r.Versions[v])
		}
		printFailures(w, r.Failures, r.FailuresTruncated)
	})
}

func (c *cli) statusCmd() *cobra.Command {
	var jobID string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the progress of migration jobs from the checkpoint table",
		Long: `Show every job recorded in the checkpoint table, or one with --job: its state,
owner (host:pid) and last heartbeat, chunks done, row counts and failing rows.

States: running (a process beat within the last 30 s), stalled (unfinished and
no heartbeat: the process was killed or interrupted; run its command again to
resume), failed (the last run stopped on the error shown; run again to resume),
done. It needs no master key.`,
		Example: `  colcrypt migrate status
  colcrypt migrate status --job 'encrypt:users.email->email_enc' --output json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			k, err := c.open(ctx, withoutKMS)
			if err != nil {
				return err
			}
			defer k.Close()
			var jobs []migrate.Status
			if jobID != "" {
				s, err := k.m.Status(ctx, jobID)
				if err != nil {
					return err
				}
				jobs = []migrate.Status{*s}
			} else if jobs, err = k.m.Jobs(ctx); err != nil {
				return err
			}
			if jobs == nil {
				jobs = []migrate.Status{}
			}
			return c.emit(statusesJSON(jobs), func(w io.Writer) {
				if len(jobs) == 0 {
					fmt.Fprintln(w, "no migration jobs recorded")
				}
				for _, s := range jobs {
					fmt.Fprintf(w, "%s: %s, %d/%d chunks, %d of ~%d rows scanned (%d sealed, %d skipped, %d null, %d failed, %d re-read, %d given up, %d left behind), last update %s\n",
						s.JobID, s.State, s.ChunksDone, s.Chunks, s.Scanned, s.Total, s.Updated, s.Skipped, s.Null, s.Failed, s.Rereads, s.Conflicts, s.Left,
						s.UpdatedAt.UTC().Format(time.RFC3339))
					if s.Owner != "" {
						beat := "none current"
						if !s.Heartbeat.IsZero() {
							beat = s.Heartbeat.UTC().Format(time.RFC3339)
						}
						fmt.Fprintf(w, "  owner %s, last heartbeat %s\n", s.Owner, beat)
					}
					if s.Error != "" {
						fmt.Fprintf(w, "  last run stopped: %s\n", s.Error)
					}
					printFailures(w, s.Failures, false)
				}
			})
		}),
	}
	cmd.Flags().StringVar(&jobID, "job", "", "show only this job")
	return cmd
}

func (c *cli) forgetCmd() *cobra.Command {
	var jobID string
	cmd := &cobra.Command{
		Use:   "forget",
		Short: "Remove a job from the checkpoint table (its header and every chunk row)",
		Long: `Remove the job named by --job from the checkpoint table, header and chunk rows
together, so that its next run plans afresh. No data is touched: rows already
migrated stay migrated, and the next run skips them. A running job (heartbeat
within the last 30 s) is refused: stop it first. It needs no master key.`,
		Example: `  colcrypt migrate forget --job 'encrypt:users.email->email_enc'`,
		Args:    cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if jobID == "" {
				return usageErr("give --job (see colcrypt migrate status)")
			}
			ctx := cmd.Context()
			k, err := c.open(ctx, withoutKMS)
			if err != nil {
				return err
			}
			defer k.Close()
			if err := k.m.Forget(ctx, jobID); err != nil {
				return err
			}
			return c.emit(map[string]any{"job_id": jobID, "forgotten": true}, func(w io.Writer) {
				fmt.Fprintf(w, "%s: forgotten (checkpoint rows removed; data untouched)\n", jobID)
			})
		}),
	}
	cmd.Flags().StringVar(&jobID, "job", "", "the job id, as colcrypt migrate status shows it")
	return cmd
}
