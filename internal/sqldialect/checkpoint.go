package sqldialect

// CheckpointDDL returns the statements that create a migration checkpoint
// table if it does not exist. table may be "schema.table".
//
// On MySQL keys are VARBINARY (any key's text or bytes, read back as
// bytes and cast to the key column's type) and job ids take a binary
// collation, so two ids differing in case are two jobs. On SQLite lo, hi
// and last_pk have no type: no affinity, so a key keeps its storage class
// and compares like the key column does.
func (d Dialect) CheckpointDDL(table string) []string {
	q := d.QuoteTable(table)
	switch d {
	case MySQL:
		return []string{`CREATE TABLE IF NOT EXISTS ` + q + ` (
	job_id      VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	chunk       INT          NOT NULL,
	kind        VARCHAR(32)  NOT NULL DEFAULT '',
	table_name  VARCHAR(255) NOT NULL DEFAULT '',
	column_name VARCHAR(255) NOT NULL DEFAULT '',
	spec        MEDIUMTEXT   NOT NULL DEFAULT (''),
	lo          VARBINARY(3072),
	hi          VARBINARY(3072),
	last_pk     VARBINARY(3072),
	state       VARCHAR(16)  NOT NULL,
	total       BIGINT       NOT NULL DEFAULT 0,
	scanned     BIGINT       NOT NULL DEFAULT 0,
	updated     BIGINT       NOT NULL DEFAULT 0,
	skipped     BIGINT       NOT NULL DEFAULT 0,
	nulls       BIGINT       NOT NULL DEFAULT 0,
	failed      BIGINT       NOT NULL DEFAULT 0,
	conflicts   BIGINT       NOT NULL DEFAULT 0,
	failures    MEDIUMTEXT   NOT NULL DEFAULT (''),
	updated_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (job_id, chunk)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`}
	case SQLite:
		return []string{`CREATE TABLE IF NOT EXISTS ` + q + ` (
	job_id      TEXT    NOT NULL,
	chunk       INTEGER NOT NULL,
	kind        TEXT    NOT NULL DEFAULT '',
	table_name  TEXT    NOT NULL DEFAULT '',
	column_name TEXT    NOT NULL DEFAULT '',
	spec        TEXT    NOT NULL DEFAULT '',
	lo,
	hi,
	last_pk,
	state       TEXT    NOT NULL,
	total       INTEGER NOT NULL DEFAULT 0,
	scanned     INTEGER NOT NULL DEFAULT 0,
	updated     INTEGER NOT NULL DEFAULT 0,
	skipped     INTEGER NOT NULL DEFAULT 0,
	nulls       INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	conflicts   INTEGER NOT NULL DEFAULT 0,
	failures    TEXT    NOT NULL DEFAULT '',
	updated_at  TEXT,
	PRIMARY KEY (job_id, chunk)
)`}
	}
	return []string{`CREATE TABLE IF NOT EXISTS ` + q + ` (
	job_id      text        NOT NULL,
	chunk       integer     NOT NULL,
	kind        text        NOT NULL DEFAULT '',
	table_name  text        NOT NULL DEFAULT '',
	column_name text        NOT NULL DEFAULT '',
	spec        text        NOT NULL DEFAULT '',
	lo          text,
	hi          text,
	last_pk     text,
	state       text        NOT NULL,
	total       bigint      NOT NULL DEFAULT 0,
	scanned     bigint      NOT NULL DEFAULT 0,
	updated     bigint      NOT NULL DEFAULT 0,
	skipped     bigint      NOT NULL DEFAULT 0,
	nulls       bigint      NOT NULL DEFAULT 0,
	failed      bigint      NOT NULL DEFAULT 0,
	conflicts   bigint      NOT NULL DEFAULT 0,
	failures    text        NOT NULL DEFAULT '',
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (job_id, chunk)
)`}
}

// A CheckpointColumn is a column the checkpoint table gained after its
// first release, to be added to a table an older version created so that
// a job recorded before an upgrade keeps running.
type CheckpointColumn struct {
	Name string
	// defs is the column definition per dialect.
	defs [3]string
}

// Def is the column's definition (type, nullability, default) in d.
func (c CheckpointColumn) Def(d Dialect) string { return c.defs[d-1] }

// LaterCheckpointColumns are the columns added, in this order, when
// missing. Each has a constant default, so adding it is an online,
// metadata-only change on Postgres 11+, MariaDB 10.3+ (instant ADD
// COLUMN) and SQLite. Definitions are in Postgres, MySQL, SQLite order.
var LaterCheckpointColumns = []CheckpointColumn{
	// owner is "host:pid" of the process that last started or
	// heartbeated the job (header row).
	{"owner", [3]string{"text NOT NULL DEFAULT ''", "VARCHAR(255) NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''"}},
	// heartbeat_at is when a running process last said it was alive.
	{"heartbeat_at", [3]string{"timestamptz", "DATETIME(6) NULL", "TEXT"}},
	// error is the error that stopped the last run (state failed).
	{"error", [3]string{"text NOT NULL DEFAULT ''", "MEDIUMTEXT NOT NULL DEFAULT ('')", "TEXT NOT NULL DEFAULT ''"}},
	// table_ident identifies the table the job was planned on, so a
	// dropped and recreated table is a new job.
	{"table_ident", [3]string{"text NOT NULL DEFAULT ''", "VARCHAR(255) NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''"}},
	// rereads counts rows read again after a lost compare-and-set.
	{"rereads", [3]string{"bigint NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"}},
}

// ClaimChunk selects one unfinished chunk of a job (argument: job id) →
// chunk, lo, hi, last_pk, failures. On Postgres and MySQL it locks the
// chunk row and skips rows others hold (FOR UPDATE SKIP LOCKED), so no
// other worker in any process takes it until the transaction ends; SQLite
// has one writer at a time, and the batch transaction's BEGIN IMMEDIATE
// already excludes the others.
func (d Dialect) ClaimChunk(table string) string {
	q := `SELECT chunk, lo, hi, last_pk, failures FROM ` + d.QuoteTable(table) +
		` WHERE job_id = ` + d.Placeholder(1) + ` AND chunk > 0 AND state = 'pending' ORDER BY chunk LIMIT 1`
	if d == SQLite {
		return q
	}
	return q + ` FOR UPDATE SKIP LOCKED`
}

// OnConflictDoNothing is the clause that makes an INSERT of an existing
// checkpoint row a no-op, or "" on MySQL, which has none that skips only
// duplicates: there the INSERT fails with a duplicate-key error
// (IsUniqueViolation) that means another process recorded the row first.
func (d Dialect) OnConflictDoNothing() string {
	if d == MySQL {
		return ""
	}
	return " ON CONFLICT (job_id, chunk) DO NOTHING"
}
