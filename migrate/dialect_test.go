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
		d    Dialect
		err  error
		want bool
	}{
		{Postgres, &pgconn.PgError{Code: "40P01"}, true},
		{Postgres, fmt.Errorf("migrate: update t: %w", &pgconn.PgError{Code: "40001"}), true},
		{Postgres, &pgconn.PgError{Code: "55P03"}, true},
		{Postgres, &pgconn.PgError{Code: "23505"}, false},
		{Postgres, errors.New("connection refused"), false},
		{SQLite, sqliteErr(5), true},        // SQLITE_BUSY
		{SQLite, sqliteErr(5 | 2<<8), true}, // SQLITE_BUSY_SNAPSHOT
		{SQLite, fmt.Errorf("x: %w", sqliteErr(6)), true},
		{SQLite, sqliteErr(19), false}, // SQLITE_CONSTRAINT
		{SQLite, errors.New("disk I/O error"), false},
		{MySQL, &gomysql.MySQLError{Number: 1213}, true},                      // ER_LOCK_DEADLOCK
		{MySQL, fmt.Errorf("x: %w", &gomysql.MySQLError{Number: 1205}), true}, // ER_LOCK_WAIT_TIMEOUT
		{MySQL, &gomysql.MySQLError{Number: 1062}, false},                     // ER_DUP_ENTRY
		{MySQL, errors.New("invalid connection"), false},
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
		if got := quoteTable(Postgres, tc.in); got != tc.want {
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
	for name, want := range map[string]Dialect{"postgres": Postgres, "PGX": Postgres, "postgresql": Postgres, "sqlite": SQLite, "sqlite3": SQLite, "mysql": MySQL, "MariaDB": MySQL} {
		if got, err := DialectByName(name); err != nil || got != want {
			t.Errorf("DialectByName(%q) = %v, %v; want %s", name, got, err, want.Name())
		}
	}
	if _, err := DialectByName("oracle"); err == nil {
		t.Errorf("DialectByName(oracle) = nil error, want one")
	}
}
