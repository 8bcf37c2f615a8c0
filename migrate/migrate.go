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
// updated only if it is still as it was read (on Postgres the same row
// version; elsewhere the same values in every column read, the tenant
// included), so a concurrent write by the application is never
// overwritten (the row is read again and, if it still needs work, done in
// the same batch). A blind index is
// written in the same statement as its value. Values already in the
// target state are skipped, never encrypted twice; a value that looks like
// a colcrypt value but does not parse (plaintext that happens to start
// with the text armor prefix or the magic byte) is left alone and
// reported. With [Job.BindColumn] each value is bound to its row's key,
// for columns the application reads with row binding (bind:<Field>).
//
// # Resumable, and shared between processes
//
// Progress lives in a checkpoint table ([WithCheckpointTable]): per
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
// done over rows that need work ([ErrRowsFailed]); a table
// dropped and created again is a new job. Before the first batch, and in
// a dry run, the target column's declared width is read: a value that
// would not fit fails its row instead of the batch. [WithMeterProvider]
// exports rows by outcome and the estimated rows left as OpenTelemetry
// metrics, once per batch.
//
// # Dialects
//
// PostgreSQL (pgx or lib/pq), MySQL 8.0+ and MariaDB 10.6+
// (go-sql-driver/mysql) and SQLite (modernc.org/sqlite or
// mattn/go-sqlite3), told from the driver or named with [WithDialect].
// The SQL of each lives in one file.
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
	d    dialect
	enc  *fieldcore.Engine
	ckpt string
	// dialectName: see WithDialect.
	dialectName string
	// beatEvery and staleAfter: see WithHeartbeat.
	beatEvery, staleAfter time.Duration
	// meters and tel: see WithMeterProvider.
	meters metric.MeterProvider
	tel    *telemetry
}

// New returns a Migrator over db that seals and opens values with enc.
// The database's SQL dialect is told from db's driver (pgx or lib/pq:
// Postgres; modernc.org/sqlite or mattn/go-sqlite3: SQLite;
// go-sql-driver/mysql: MySQL and MariaDB) unless [WithDialect] names it.
func New(db *sql.DB, enc *field.Encryptor, opts ...Option) (*Migrator, error) {
	if db == nil || enc == nil {
		return nil, fmt.Errorf("migrate: New needs a database and an Encryptor")
	}
	m := &Migrator{db: db, enc: (*fieldcore.Engine)(enc), ckpt: defaultCheckpointTable,
		beatEvery: defaultHeartbeatInterval, staleAfter: defaultStaleAfter}
	for _, o := range opts {
		o(m)
	}
	if m.ckpt == "" {
		return nil, fmt.Errorf("migrate: empty checkpoint table name")
	}
	var err error
	if m.dialectName != "" {
		m.d, err = dialectByName(m.dialectName)
	} else {
		m.d, err = detectDialect(db)
	}
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(m.meters)
	if err != nil {
		return nil, err
	}
	m.tel = tel
	return m, nil
}

// RunOptions tune one call of Run or Verify. Unlike the Job, they
// may change from one run of a job to the next. The zero value is the
// defaults.
//
// They are a struct, where the Migrator's settings are functional options
// ([Option]): they are per call, a command line fills them from its flags
// in one place, and their zero value is a valid choice, as with
// database/sql's TxOptions; a function per field would double the
// package's names without adding a check.
type RunOptions struct {
	// BatchSize is the number of rows per transaction of Run (default
	// 1000), or per read of Verify (default 5000).
	BatchSize int
	// Workers is the number of concurrent batches of Run in this process
	// (default 1). Other processes running the same job add theirs.
	Workers int
	// RowsPerSecond limits Run's rate in this process; 0 is unlimited.
	RowsPerSecond float64
	// DryRun makes Run read and check every row and count what would
	// change, writing nothing: no data, no checkpoint, no new keys.
	DryRun bool
	// Restart makes Run run a job that the checkpoint records as done
	// again from the start (to pick up rows that failed, or were written
	// in plaintext since). An unfinished job always resumes.
	Restart bool
	// ChunkRows is the planned number of rows per chunk, the unit Run's
	// workers share (default ten batches).
	ChunkRows int
	// MaxFailures bounds the failures a Verify report lists (default
	// 100).
	MaxFailures int
	// OpenOnly makes Verify check only that encrypted values open,
	// allowing plaintext (and, after Decrypt, encrypted) values: for a
	// column part way through a job.
	OpenOnly bool
	// CountOnly makes Verify open nothing and only count values per key
	// version and tenant (see Verify).
	CountOnly bool
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
	// run re-checked the column instead of running it again: what a dry
	// run found (Scanned rows read, Updated rows that need the job's work
	// again, Failed rows that cannot be migrated).
	Recheck *Result `json:"recheck,omitempty"`
	// Warnings are what the checks before the first batch found worth
	// knowing (triggers, a NOT NULL target, the checkpoint table).
	Warnings []string `json:"warnings,omitempty"`
	// ThisRun counts the rows this call scanned to migrate them (a
	// re-check's rows are in Recheck).
	ThisRun  int64         `json:"this_run"`
	Duration time.Duration `json:"duration_ns"`
}

// maxReportFailures bounds the failures a Result or Report lists.
const maxReportFailures = 100
