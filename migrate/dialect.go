package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// dialect is the SQL of one database engine: catalog queries, the batched
// compare-and-set UPDATE, the checkpoint table and how a batch transaction
// takes its locks. postgres, sqlite and mysqlDialect are the
// implementations; a new engine is one more file implementing it. Every
// SQL string the package runs is built here, from a plan whose
// identifiers are already checked against the catalog.
type dialect interface {
	// Name is the engine's name: "postgres", "sqlite", "mysql".
	Name() string
	// sql is the engine's statements and catalog reads.
	sql() sqldialect.Dialect
	// quote quotes one identifier.
	quote(ident string) string
	// describe reads a table's columns and its single-column primary key
	// (nil if it has none) from the catalog.
	describe(ctx context.Context, q querier, table string) (*tableInfo, error)
	// uniqueColumn reports whether column holds unique values (a primary
	// key or a single-column unique index), which keyset pagination needs.
	uniqueColumn(ctx context.Context, q querier, ti *tableInfo, column string) (bool, error)

	// begin starts a batch transaction that holds the write locks the
	// dialect needs (SQLite: BEGIN IMMEDIATE, so no other writer can come
	// between the read and the write).
	begin(ctx context.Context, db *sql.DB) (txn, error)

	// selectRows is the keyset-paginated read of one batch: rows with
	// pk > $lo (if hasLo) and pk <= $hi (if hasHi), in pk order, limit $n.
	selectRows(p *plan, hasLo, hasHi bool) string
	// selectByPK re-reads the rows whose pks are given (after a lost
	// compare-and-set); returns the query and its arguments.
	selectByPK(p *plan, pks []any) (string, []any)
	// write applies the batch's compare-and-set updates and reports, for
	// each write, whether it was applied (false: the row changed since it
	// was read).
	write(ctx context.Context, tx txn, p *plan, ws []write) ([]bool, error)
	// scanPK is the destination to scan a pk into, and pkValue its value
	// afterwards: the form the dialect binds back (text on Postgres, the
	// native value on SQLite), and its text for reports.
	scanPK() any
	pkValue(dst any) (v any, text string)

	// estimate returns the approximate number of rows of the table.
	estimate(ctx context.Context, q querier, p *plan) (int64, error)
	// boundaries returns up to n-1 pk values that cut the table into n
	// chunks of about equal size, in pk order.
	boundaries(ctx context.Context, q querier, p *plan, total int64, n int) ([]any, error)

	// checkpointDDL creates the checkpoint table.
	checkpointDDL(table string) []string
	// claimChunk selects one unfinished chunk of a job, locking it so no
	// other worker in any process takes it until this transaction ends,
	// and skipping chunks others hold. Arguments: job id.
	claimChunk(table string) string
	// ph is the i-th (1-based) bind placeholder.
	ph(i int) string
	// retryable reports whether a batch that failed with err can simply
	// run again: a deadlock or serialization failure on Postgres, a
	// database still locked after the busy timeout on SQLite.
	retryable(err error) bool
	// timeArg is a timestamp as the checkpoint table stores it.
	timeArg(t time.Time) any
	// onConflictDoNothing is the clause that makes an INSERT of an
	// existing checkpoint row a no-op ("" where the engine has none: MySQL).
	onConflictDoNothing() string
	// duplicate reports whether err is a duplicate-key error, which an
	// INSERT without onConflictDoNothing reports for an existing row.
	duplicate(err error) bool
}

// querier is what reads need: *sql.DB, *sql.Tx and *sql.Conn.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// txn is a batch transaction. *sql.Tx implements it; SQLite uses a
// connection with a hand-issued BEGIN IMMEDIATE.
type txn interface {
	querier
	Commit() error
	Rollback() error
}

// The dialects. The file of each says what it needs of the server and
// why its batches are built the way they are.
var (
	// Postgres is PostgreSQL 12 or later through database/sql with the pgx
	// stdlib driver ("pgx"). Workers in any number of processes share a
	// job.
	dialectPostgres dialect = postgres{engine{sqldialect.Postgres}}
	// MySQL is MySQL 8.0+ and MariaDB 10.6+ through
	// github.com/go-sql-driver/mysql (driver "mysql"), the first versions
	// with SELECT … FOR UPDATE SKIP LOCKED. Run it with a strict sql_mode
	// and, where binary logging is on, binlog_format ROW or MIXED (the
	// defaults); parseTime is optional.
	dialectMySQL dialect = mysqlDialect{engine{sqldialect.MySQL}}
	// SQLite is SQLite 3.35 or later (modernc.org/sqlite, driver
	// "sqlite"). It has one writer at a time: workers in several processes
	// queue on the database lock (open it with a busy timeout) and add no
	// speed.
	dialectSQLite dialect = sqlite{engine{sqldialect.SQLite}}
)

var (
	_ txn     = (*sql.Tx)(nil)
	_ dialect = postgres{}
	_ dialect = sqlite{}
	_ dialect = mysqlDialect{}
)

// dialectByName returns the dialect called name ("postgres", "pgx",
// "postgresql", "sqlite", "sqlite3", "mysql", "mariadb").
func dialectByName(name string) (dialect, error) {
	d, err := sqldialect.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return dialectOf(d), nil
}

// detectDialect tells the dialect of db from its driver's Go type: the
// pgx and lib/pq drivers are Postgres, modernc.org/sqlite and
// mattn/go-sqlite3 are SQLite, go-sql-driver/mysql is MySQL.
func detectDialect(db *sql.DB) (dialect, error) {
	d, err := sqldialect.Detect(db)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w; pass one to migrate.New", err)
	}
	return dialectOf(d), nil
}

// dialectOf is the dialect of an engine.
func dialectOf(d sqldialect.Dialect) dialect {
	switch d {
	case sqldialect.Postgres:
		return dialectPostgres
	case sqldialect.MySQL:
		return dialectMySQL
	}
	return dialectSQLite
}

// engine is what every dialect takes from package sqldialect: names,
// quoting, error classes, the checkpoint table and the catalog reads.
// Each dialect embeds it; what is left in postgres.go, mysql.go and
// sqlite.go is how each builds and runs a batch.
type engine struct{ sd sqldialect.Dialect }

func (e engine) Name() string                        { return e.sd.String() }
func (e engine) quote(s string) string               { return e.sd.Quote(s) }
func (e engine) ph(i int) string                     { return e.sd.Placeholder(i) }
func (e engine) retryable(err error) bool            { return e.sd.IsRetryable(err) }
func (e engine) timeArg(t time.Time) any             { return e.sd.TimeArg(t) }
func (e engine) checkpointDDL(table string) []string { return e.sd.CheckpointDDL(table) }
func (e engine) claimChunk(table string) string      { return e.sd.ClaimChunk(table) }
func (e engine) onConflictDoNothing() string         { return e.sd.OnConflictDoNothing() }
func (e engine) sql() sqldialect.Dialect             { return e.sd }

// duplicate is only ever needed where there is no onConflictDoNothing.
func (e engine) duplicate(err error) bool {
	return e.sd.OnConflictDoNothing() == "" && e.sd.IsUniqueViolation(err)
}

func (e engine) describe(ctx context.Context, q querier, table string) (*tableInfo, error) {
	cols, pk, exists, err := e.sd.Describe(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	if !exists {
		return nil, fmt.Errorf("%w: %s", errNoTable, table)
	}
	ti := &tableInfo{Name: table, Columns: make(map[string]column, len(cols))}
	for _, c := range cols {
		ti.Columns[c.Name] = column{Name: c.Name, Type: c.Type, class: classOf(c.Class), dataType: c.DataType, charset: c.Charset, collation: c.Collation}
	}
	if len(pk) == 1 {
		c := ti.Columns[pk[0]]
		ti.PK = &c
	}
	return ti, nil
}

// classOf is the class of a catalog column.
func classOf(c byte) class {
	switch c {
	case sqldialect.ClassText:
		return classText
	case sqldialect.ClassBytes:
		return classBytes
	}
	return classOther
}

func (e engine) uniqueColumn(ctx context.Context, q querier, ti *tableInfo, col string) (bool, error) {
	ok, err := e.sd.UniqueColumn(ctx, q, ti.Name, col)
	if err != nil {
		return false, fmt.Errorf("migrate: describe %s: %w", ti.Name, err)
	}
	return ok, nil
}

// estimate is the planner's estimate of the table's rows where the
// engine keeps one and it is large; below a million rows (or where the
// estimate is missing: before the first ANALYZE, or stale after a bulk
// load) an exact count is cheap.
func (e engine) estimate(ctx context.Context, q querier, p *plan) (int64, error) {
	est, err := e.sd.RowEstimate(ctx, q, p.table)
	if err != nil {
		return 0, fmt.Errorf("migrate: estimate %s: %w", p.ti.Name, err)
	}
	if est >= 1_000_000 {
		return int64(est), nil
	}
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+p.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("migrate: count %s: %w", p.ti.Name, err)
	}
	return n, nil
}

// quoteTable quotes a table name, splitting "schema.table" in two.
func quoteTable(d dialect, name string) string { return d.sql().QuoteTable(name) }

// collectKeys reads the key values of rows (one column each) as d binds
// them back.
func collectKeys(d dialect, p *plan, rows *sql.Rows) ([]any, error) {
	defer rows.Close()
	var out []any
	for rows.Next() {
		k := d.scanPK()
		if err := rows.Scan(k); err != nil {
			return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
		}
		v, _ := d.pkValue(k)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
	}
	return out, nil
}
