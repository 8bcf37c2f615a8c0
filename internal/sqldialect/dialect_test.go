package sqldialect

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Dialect{
		"postgres": Postgres, "PostgreSQL": Postgres, "pgx": Postgres, "pg": Postgres, "PGX": Postgres,
		"mysql": MySQL, "MariaDB": MySQL, " mysql ": MySQL,
		"sqlite": SQLite, "sqlite3": SQLite, "SQLite": SQLite,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "oracle", "postgres9", "my sql", "unknown"} {
		if got, err := Parse(in); err == nil || !errors.Is(err, ErrUnknown) {
			t.Errorf("Parse(%q) = %v, %v; want an ErrUnknown error", in, got, err)
		}
	}
	// Every dialect's name parses back to it.
	for _, d := range All {
		if got, err := Parse(d.String()); err != nil || got != d {
			t.Errorf("Parse(%v.String()) = %v, %v", d, got, err)
		}
	}
	if got := Dialect(0).String(); got != "unknown" {
		t.Errorf("Dialect(0).String() = %q, want unknown", got)
	}
}

// namedDriver is a database/sql driver, and its own connector, that no
// detection rule knows.
type namedDriver struct{}

var errNoConn = errors.New("namedDriver: no connections")

func (namedDriver) Open(string) (driver.Conn, error)             { return nil, errNoConn }
func (namedDriver) Connect(context.Context) (driver.Conn, error) { return nil, errNoConn }
func (d namedDriver) Driver() driver.Driver                      { return d }

// SQLiteLikeDriver has "sqlite" in its type name only.
type SQLiteLikeDriver struct{ namedDriver }

func (d SQLiteLikeDriver) Driver() driver.Driver { return d }

func TestDetect(t *testing.T) {
	open := func(driver, dsn string) *sql.DB {
		db, err := sql.Open(driver, dsn) // not connected
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	for _, tc := range []struct {
		db   *sql.DB
		want Dialect
	}{
		{open("sqlite", "file:"+t.TempDir()+"/x.db"), SQLite},
		{open("pgx", "postgres://nobody@127.0.0.1:1/none"), Postgres},
		{open("mysql", "nobody@tcp(127.0.0.1:1)/none"), MySQL},
		{sql.OpenDB(SQLiteLikeDriver{}), SQLite},
	} {
		if got, err := Detect(tc.db); err != nil || got != tc.want {
			t.Errorf("Detect(%T) = %v, %v; want %v", tc.db.Driver(), got, err, tc.want)
		}
	}
	if _, err := Detect(nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("Detect(nil) = %v, want ErrUnknown", err)
	}
	un := sql.OpenDB(namedDriver{})
	defer un.Close()
	if got, err := Detect(un); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "namedDriver") {
		t.Errorf("Detect(unknown driver) = %v, %v; want ErrUnknown naming the driver", got, err)
	}
}

func TestByDriver(t *testing.T) {
	for _, tc := range []struct {
		pkg, name string
		want      Dialect
	}{
		{"github.com/jackc/pgx/v5/stdlib", "Driver", Postgres},
		{"github.com/jackc/pgx/v4/stdlib", "Driver", Postgres},
		{"github.com/lib/pq", "Driver", Postgres},
		{"github.com/lib/pqx", "Driver", 0},
		{"github.com/go-sql-driver/mysql", "MySQLDriver", MySQL},
		{"github.com/go-sql-driver/mysqlx", "MySQLDriver", 0},
		{"modernc.org/sqlite", "Driver", SQLite},
		{"github.com/mattn/go-sqlite3", "SQLiteDriver", SQLite},
		{"github.com/ncruces/go-sqlite3/driver", "SQLite", SQLite},
		{"example.com/wrap", "Driver", 0},
		{"", "", 0},
	} {
		if got := byDriver(tc.pkg, tc.name); got != tc.want {
			t.Errorf("byDriver(%q, %q) = %v, want %v", tc.pkg, tc.name, got, tc.want)
		}
	}
}

func TestQuoting(t *testing.T) {
	for _, tc := range []struct {
		d        Dialect
		in, want string
	}{
		{Postgres, "users", `"users"`},
		{Postgres, "app.users", `"app"."users"`},
		{Postgres, `we"ird`, `"we""ird"`},
		{SQLite, "Mixed Case", `"Mixed Case"`},
		{MySQL, "users", "`users`"},
		{MySQL, "app.users", "`app`.`users`"},
		{MySQL, "we`ird", "`we``ird`"},
	} {
		if got := tc.d.QuoteTable(tc.in); got != tc.want {
			t.Errorf("%v.QuoteTable(%q) = %s, want %s", tc.d, tc.in, got, tc.want)
		}
	}
	for d, want := range map[Dialect]string{Postgres: "$3", SQLite: "?3", MySQL: "?"} {
		if got := d.Placeholder(3); got != want {
			t.Errorf("%v.Placeholder(3) = %q, want %q", d, got, want)
		}
	}
	const q = `SELECT a FROM t WHERE x = ? AND y IN (?, ?)`
	if got, want := Postgres.Rebind(q), `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)`; got != want {
		t.Errorf("Postgres.Rebind() = %q, want %q", got, want)
	}
	if got := MySQL.Rebind(q); got != q {
		t.Errorf("MySQL.Rebind() = %q, want it unchanged", got)
	}
}

func TestTimeArg(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	if got, want := SQLite.TimeArg(at), "2030-01-02T02:04:05.000000006Z"; got != want {
		t.Errorf("SQLite.TimeArg() = %v, want %v", got, want)
	}
	for _, d := range []Dialect{Postgres, MySQL} {
		if got, ok := d.TimeArg(at).(time.Time); !ok || !got.Equal(at) || got.Location() != time.UTC {
			t.Errorf("%v.TimeArg() = %v, want %v in UTC", d, got, at)
		}
	}
}

type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

// MySQLError has the driver's error type name and field, but not its
// package: it must not be taken for the driver's.
type MySQLError struct{ Number uint16 }

func (e *MySQLError) Error() string { return "not the driver's" }

type loopErr struct{}

func (loopErr) Error() string { return "loop" }
func (loopErr) Unwrap() error { return loopErr{} }

// TestErrorClasses: unique violation, serialization failure and
// retryable, per dialect, for the drivers' own error types wrapped,
// joined and not, and for look-alikes.
func TestErrorClasses(t *testing.T) {
	dup := &mysqldrv.MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}, Message: "Duplicate entry"}
	deadlock := &mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found"}
	for _, tc := range []struct {
		d                  Dialect
		name               string
		err                error
		unique, ser, retry bool
	}{
		{Postgres, "nil", nil, false, false, false},
		{Postgres, "23505", &pgconn.PgError{Code: "23505"}, true, false, false},
		{Postgres, "40001 wrapped", fmt.Errorf("x: %w", &pgconn.PgError{Code: "40001"}), false, true, true},
		{Postgres, "40P01", &pgconn.PgError{Code: "40P01"}, false, true, true},
		{Postgres, "55P03", &pgconn.PgError{Code: "55P03"}, false, false, true},
		{Postgres, "text", errors.New("connection refused"), false, false, false},
		{MySQL, "nil", nil, false, false, false},
		{MySQL, "duplicate", dup, true, false, false},
		{MySQL, "duplicate wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", dup)), true, false, false},
		{MySQL, "duplicate joined", errors.Join(io.EOF, dup), true, false, false},
		{MySQL, "ER_DUP_KEY", &mysqldrv.MySQLError{Number: 1022}, true, false, false},
		{MySQL, "ER_DUP_ENTRY_WITH_KEY_NAME", &mysqldrv.MySQLError{Number: 1586}, true, false, false},
		{MySQL, "deadlock", deadlock, false, true, true},
		{MySQL, "deadlock wrapped", fmt.Errorf("x: %w", deadlock), false, true, true},
		{MySQL, "lock wait timeout", fmt.Errorf("x: %w", &mysqldrv.MySQLError{Number: 1205}), false, false, true},
		{MySQL, "check", &mysqldrv.MySQLError{Number: 4025, Message: "CONSTRAINT failed"}, false, false, false},
		{MySQL, "typed nil", (*mysqldrv.MySQLError)(nil), false, false, false},
		{MySQL, "look-alike type", &MySQLError{Number: 1062}, false, false, false},
		{MySQL, "text only", errors.New("Error 1062 (23000): Duplicate entry"), false, false, false},
		{MySQL, "endless chain", loopErr{}, false, false, false},
		{SQLite, "nil", nil, false, false, false},
		{SQLite, "PRIMARYKEY", sqliteErr(1555), true, false, false},
		{SQLite, "UNIQUE wrapped", fmt.Errorf("x: %w", sqliteErr(2067)), true, false, false},
		{SQLite, "message", errors.New("constraint failed: UNIQUE constraint failed: t.id"), true, false, false},
		{SQLite, "BUSY", sqliteErr(5), false, false, true},
		{SQLite, "BUSY_SNAPSHOT", sqliteErr(5 | 2<<8), false, false, true},
		{SQLite, "LOCKED wrapped", fmt.Errorf("x: %w", sqliteErr(6)), false, false, true},
		{SQLite, "CONSTRAINT", sqliteErr(19), false, false, false},
		{SQLite, "I/O", errors.New("disk I/O error"), false, false, false},
	} {
		if got := tc.d.IsUniqueViolation(tc.err); got != tc.unique {
			t.Errorf("%v.IsUniqueViolation(%s) = %v, want %v", tc.d, tc.name, got, tc.unique)
		}
		if got := tc.d.IsSerializationFailure(tc.err); got != tc.ser {
			t.Errorf("%v.IsSerializationFailure(%s) = %v, want %v", tc.d, tc.name, got, tc.ser)
		}
		if got := tc.d.IsRetryable(tc.err); got != tc.retry {
			t.Errorf("%v.IsRetryable(%s) = %v, want %v", tc.d, tc.name, got, tc.retry)
		}
	}
}

func TestSQLiteClass(t *testing.T) {
	for _, tc := range []struct {
		declared string
		want     byte
	}{
		{"", ClassBytes}, {"BLOB", ClassBytes}, {"TEXT", ClassText}, {"varchar(40)", ClassText},
		{"CLOB", ClassText}, {"INTEGER", ClassOther}, {"BIGINT", ClassOther}, {"REAL", ClassOther}, {"NUMERIC", ClassOther},
	} {
		if got := sqliteClass(tc.declared); got != tc.want {
			t.Errorf("sqliteClass(%q) = %c, want %c", tc.declared, got, tc.want)
		}
	}
}

func TestCheckpointStatements(t *testing.T) {
	for _, d := range All {
		for _, c := range LaterCheckpointColumns {
			if c.Def(d) == "" {
				t.Errorf("%v: no definition of checkpoint column %s", d, c.Name)
			}
		}
		q := d.ClaimChunk("app.ckpt")
		if !strings.Contains(q, d.QuoteTable("app.ckpt")) || strings.Contains(q, "SKIP LOCKED") != (d != SQLite) {
			t.Errorf("%v.ClaimChunk() = %s", d, q)
		}
		if (d.OnConflictDoNothing() == "") != (d == MySQL) {
			t.Errorf("%v.OnConflictDoNothing() = %q", d, d.OnConflictDoNothing())
		}
	}
}
