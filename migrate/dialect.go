package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
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

var (
	_ txn     = (*sql.Tx)(nil)
	_ dialect = postgres{}
	_ dialect = sqlite{}
	_ dialect = mysqlDialect{}
)

// dialectByName returns the dialect called name ("postgres", "pgx",
// "postgresql", "sqlite", "sqlite3", "mysql", "mariadb").
func dialectByName(name string) (dialect, error) {
	switch strings.ToLower(name) {
	case "postgres", "postgresql", "pgx", "pg":
		return dialectPostgres, nil
	case "sqlite", "sqlite3":
		return dialectSQLite, nil
	case "mysql", "mariadb":
		return dialectMySQL, nil
	}
	return nil, fmt.Errorf("migrate: unknown SQL dialect %q (known: postgres, sqlite, mysql)", name)
}

// detectDialect guesses the dialect of db from its driver's Go type: the
// pgx and lib/pq drivers are Postgres, modernc.org/sqlite and
// mattn/go-sqlite3 are SQLite, go-sql-driver/mysql is MySQL.
func detectDialect(db *sql.DB) (dialect, error) {
	t := strings.ToLower(fmt.Sprintf("%T", db.Driver()))
	switch {
	case strings.Contains(t, "stdlib"), strings.Contains(t, "pq."), strings.Contains(t, "pgx"):
		return dialectPostgres, nil
	case strings.Contains(t, "sqlite"):
		return dialectSQLite, nil
	case strings.Contains(t, "mysql."):
		return dialectMySQL, nil
	}
	return nil, fmt.Errorf("migrate: cannot tell the SQL dialect of driver %s; name one with migrate.WithDialect", t)
}

// quoteDouble quotes an identifier the SQL-standard way.
func quoteDouble(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// quoteTable quotes a table name, splitting "schema.table" in two.
func quoteTable(d dialect, name string) string {
	if schema, table, ok := strings.Cut(name, "."); ok {
		return d.quote(schema) + "." + d.quote(table)
	}
	return d.quote(name)
}
