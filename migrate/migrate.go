// Package migrate runs the jobs a team runs once per column and once per
// key rotation, on production tables, while the application keeps
// serving: encrypting an existing plaintext column ([Encrypt]), moving
// values to the tenant's newest key after a rotation ([Reencrypt]),
// decrypting a column back to plaintext ([Decrypt]), and checking a column
// ([Migrator.Verify]). The colcrypt CLI is a thin layer over it.
//
// # Online and safe
//
// A job reads a table in batches in primary-key order (keyset
// pagination), seals or opens each value with its own row's tenant, and
// writes the batch back with a compare-and-set condition: a row is
// updated only if the column still holds what was read, so a concurrent
// write by the application is never overwritten (the row is read again
// and, if it still needs work, done in the same batch). A blind index is
// written in the same statement as its value. Values already in the
// target state are skipped, never encrypted twice; a value that looks like
// a colcrypt value but does not parse (plaintext that happens to start
// with the text armor prefix or the magic byte) is left alone and
// reported. With [Job.BindColumn] each value is bound to its row's key,
// for columns the application reads with row binding (bind:<Field>).
//
// # Resumable, and shared between processes
//
// Progress lives in a checkpoint table ([DefaultCheckpointTable]): per
// job, a header row and one row per chunk of the key range. Each batch is
// one transaction that locks a chunk row (SELECT … FOR UPDATE SKIP LOCKED
// on Postgres), reads the rows after the chunk's last key, writes them,
// and advances the chunk in the same commit. A job killed at any moment
// loses at most the uncommitted batch; running it again continues where
// the last commit left off. Workers are goroutines ([RunOptions.Workers])
// or processes on other machines running the same job id: they coordinate
// only through the checkpoint table, and every row is processed by
// exactly one of them.
//
// # What an operator sees
//
// The header row also records the job's owner ("host:pid"), a heartbeat
// each running process refreshes ([WithHeartbeat]), the error that
// stopped its last run, and the table's identity; [Migrator.Status]
// reports running, stalled (no heartbeat: killed or interrupted), failed
// or done, and [Migrator.Forget] removes a job's rows. A run of a job the
// checkpoint records as done re-checks the column instead of reporting
// done over rows that need work ([ErrFinishedJobHasWork]); a table
// dropped and created again is a new job. Before the first batch, and in
// a dry run, the target column's declared width is read: a value that
// would not fit fails its row instead of the batch. [WithMeterProvider]
// exports rows by outcome and the estimated rows left as OpenTelemetry
// metrics, once per batch.
//
// # Dialects
//
// [Postgres] (pgx stdlib driver) and [SQLite] (modernc.org/sqlite). The
// SQL of each lives in one file implementing [Dialect].
package migrate

import (
	"database/sql"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Migrator runs jobs against one database. It is safe for concurrent use.
type Migrator struct {
	db   *sql.DB
	d    Dialect
	enc  *fieldcore.Engine
	ckpt string
	// beatEvery and staleAfter: see WithHeartbeat.
	beatEvery, staleAfter time.Duration
	// meters and tel: see WithMeterProvider.
	meters metric.MeterProvider
	tel    *telemetry
}

// Option configures a Migrator.
type Option func(*Migrator)

// WithCheckpointTable names the checkpoint table (default
// DefaultCheckpointTable); "schema.table" is allowed.
func WithCheckpointTable(name string) Option {
	return func(m *Migrator) { m.ckpt = name }
}

// New returns a Migrator over db. A nil d is detected from db's driver
// (see [DetectDialect]).
func New(db *sql.DB, d Dialect, enc *field.Encryptor, opts ...Option) (*Migrator, error) {
	if db == nil || enc == nil {
		return nil, fmt.Errorf("migrate: New needs a database and an Encryptor")
	}
	if d == nil {
		var err error
		if d, err = DetectDialect(db); err != nil {
			return nil, err
		}
	}
	m := &Migrator{db: db, d: d, enc: (*fieldcore.Engine)(enc), ckpt: DefaultCheckpointTable,
		beatEvery: DefaultHeartbeatInterval, staleAfter: DefaultStaleAfter}
	for _, o := range opts {
		o(m)
	}
	if m.ckpt == "" {
		return nil, fmt.Errorf("migrate: empty checkpoint table name")
	}
	tel, err := newTelemetry(m.meters)
	if err != nil {
		return nil, err
	}
	m.tel = tel
	return m, nil
}

// Dialect returns the Migrator's SQL dialect.
func (m *Migrator) Dialect() Dialect { return m.d }

// RunOptions tune a run of a job. Unlike the Job, they may change from
// one run of a job to the next.
type RunOptions struct {
	// BatchSize is the number of rows per transaction (default 1000).
	BatchSize int
	// Workers is the number of concurrent batches in this process
	// (default 1). Other processes running the same job add theirs.
	Workers int
	// RowsPerSecond limits this process's rate; 0 is unlimited.
	RowsPerSecond float64
	// DryRun reads and checks every row and counts what would change,
	// writing nothing: no data, no checkpoint, no new keys.
	DryRun bool
	// Restart runs a job that the checkpoint records as done again from
	// the start (to pick up rows that failed, or were written in
	// plaintext since). An unfinished job always resumes.
	Restart bool
	// ChunkRows is the planned number of rows per chunk, the unit workers
	// share (default ten batches).
	ChunkRows int
	// Progress, if set, is called after every batch, never concurrently.
	Progress func(Progress)
}

func (o RunOptions) withDefaults() RunOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	return o
}

// maxBatchSize bounds a batch: every row of it is held in memory and
// written by one statement.
const maxBatchSize = 50_000

// Progress is a job's progress as one process sees it.
type Progress struct {
	JobID string
	// Done is the rows scanned by the job so far: by earlier runs and
	// other processes (as of this run's start) and by this process.
	Done int64
	// ThisRun is the rows this process scanned in this run.
	ThisRun int64
	// Total is the estimated number of rows of the table.
	Total   int64
	Updated int64
	Failed  int64
	Elapsed time.Duration
}

// Result is what a job did. After a run that finished the job, the counts
// are the job's, over all runs and processes; after an interrupted run
// they are what the checkpoint recorded up to then.
type Result struct {
	JobID string `json:"job_id"`
	Kind  Kind   `json:"kind"`
	// Done is true when every chunk of the job is finished.
	Done bool `json:"done"`
	// DryRun results count what a run would do.
	DryRun bool `json:"dry_run,omitempty"`
	// Total is the estimated row count at planning time.
	Total int64 `json:"total_estimate"`
	// Scanned rows were read; Updated were written; Skipped were already
	// in the target state; Null held NULL; Failed could not be migrated
	// (see Failures); Conflicts kept changing under concurrent writes
	// and were left for a rerun.
	Scanned   int64 `json:"scanned"`
	Updated   int64 `json:"updated"`
	Skipped   int64 `json:"skipped"`
	Null      int64 `json:"null"`
	Failed    int64 `json:"failed"`
	Conflicts int64 `json:"conflicts"`
	// Rereads are rows read again after their compare-and-set lost to a
	// concurrent write: the online path at work (each round counts).
	Rereads int64 `json:"rereads"`
	// Left are the rows left as they were, Failed plus Conflicts: for
	// Encrypt, the plaintext left behind.
	Left     int64     `json:"left_behind"`
	Failures []Failure `json:"failures,omitempty"`
	// Recheck is set when the checkpoint recorded the job as done and this
	// run re-checked the column instead of running it again.
	Recheck *Recheck `json:"recheck,omitempty"`
	// Warnings are what the checks before the first batch found worth
	// knowing (triggers, a NOT NULL target, the checkpoint table).
	Warnings []string `json:"warnings,omitempty"`
	// ThisRun counts the rows this call scanned to migrate them (a
	// re-check's rows are in Recheck).
	ThisRun  int64         `json:"this_run"`
	Duration time.Duration `json:"duration_ns"`
}

// Recheck is what a run of a finished job found when it read the column
// again: Rows read, Pending rows that still need the job's work (for
// Encrypt: plaintext), Failed rows that cannot be migrated.
type Recheck struct {
	Rows    int64 `json:"rows"`
	Pending int64 `json:"pending"`
	Failed  int64 `json:"failed"`
}

// maxReportFailures bounds the failures a Result or Report lists.
const maxReportFailures = 100
