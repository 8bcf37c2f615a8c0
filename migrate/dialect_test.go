package migrate

import (
	"errors"
	"fmt"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

func TestRetryable(t *testing.T) {
	cases := []struct {
		d    dialect
		err  error
		want bool
	}{
		{dialectPostgres, &pgconn.PgError{Code: "40P01"}, true},
		{dialectPostgres, fmt.Errorf("migrate: update t: %w", &pgconn.PgError{Code: "40001"}), true},
		{dialectPostgres, &pgconn.PgError{Code: "55P03"}, true},
		{dialectPostgres, &pgconn.PgError{Code: "23505"}, false},
		{dialectPostgres, errors.New("connection refused"), false},
		{dialectSQLite, sqliteErr(5), true},        // SQLITE_BUSY
		{dialectSQLite, sqliteErr(5 | 2<<8), true}, // SQLITE_BUSY_SNAPSHOT
		{dialectSQLite, fmt.Errorf("x: %w", sqliteErr(6)), true},
		{dialectSQLite, sqliteErr(19), false}, // SQLITE_CONSTRAINT
		{dialectSQLite, errors.New("disk I/O error"), false},
		{dialectMySQL, &gomysql.MySQLError{Number: 1213}, true},                      // ER_LOCK_DEADLOCK
		{dialectMySQL, fmt.Errorf("x: %w", &gomysql.MySQLError{Number: 1205}), true}, // ER_LOCK_WAIT_TIMEOUT
		{dialectMySQL, &gomysql.MySQLError{Number: 1062}, false},                     // ER_DUP_ENTRY
		{dialectMySQL, errors.New("invalid connection"), false},
	}
	for _, tc := range cases {
		if got := tc.d.retryable(tc.err); got != tc.want {
			t.Errorf("%s.retryable(%v) = %v, want %v", tc.d.Name(), tc.err, got, tc.want)
		}
	}
}

func TestQuoteTable(t *testing.T) {
	cases := []struct{ in, want string }{
		{"users", `"users"`},
		{"app.users", `"app"."users"`},
		{`we"ird`, `"we""ird"`},
		{"Mixed Case", `"Mixed Case"`},
	}
	for _, tc := range cases {
		if got := quoteTable(dialectPostgres, tc.in); got != tc.want {
			t.Errorf("quoteTable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestChunkCount(t *testing.T) {
	cases := []struct {
		total int64
		o     RunOptions
		want  int
	}{
		{0, RunOptions{BatchSize: 1000}, 1},
		{500, RunOptions{BatchSize: 1000}, 1},
		{100_000, RunOptions{BatchSize: 1000}, 16},
		{1_000_000, RunOptions{BatchSize: 1000}, 100},
		{1_000_000_000, RunOptions{BatchSize: 1000}, 4096},
		{100_000, RunOptions{BatchSize: 1000, ChunkRows: 50_000}, 2},
		{100_000, RunOptions{BatchSize: 100, ChunkRows: 50_000}, 2},
	}
	for _, tc := range cases {
		if got := chunkCount(tc.total, tc.o); got != tc.want {
			t.Errorf("chunkCount(%d, %+v) = %d, want %d", tc.total, tc.o, got, tc.want)
		}
	}
}

func TestDialectByName(t *testing.T) {
	for name, want := range map[string]dialect{"postgres": dialectPostgres, "PGX": dialectPostgres, "postgresql": dialectPostgres, "sqlite": dialectSQLite, "sqlite3": dialectSQLite, "mysql": dialectMySQL, "MariaDB": dialectMySQL} {
		if got, err := dialectByName(name); err != nil || got != want {
			t.Errorf("dialectByName(%q) = %v, %v; want %s", name, got, err, want.Name())
		}
	}
	if _, err := dialectByName("oracle"); err == nil {
		t.Errorf("dialectByName(oracle) = nil error, want one")
	}
}
