// Package sqldialect is the SQL that colcrypt speaks to each database
// family it supports: which family a *sql.DB is, how it quotes and binds,
// how it reports a duplicate key or a lost race, and the statements of
// colcrypt's own tables (the key table and its audit trail, the migration
// checkpoint table) and of the catalog reads a migration plans with.
//
// keystore, migrate, gormplugin's AutoMigrate and the colcrypt command
// all take their SQL from here, so a database family is described once.
// Statements are built from identifiers the caller has already checked
// (keystore's table-name pattern, a name read back from the catalog);
// quoting escapes them anyway.
package sqldialect

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Dialect is one database family. The zero value is no dialect.
type Dialect uint8

// The supported families.
const (
	// Postgres is PostgreSQL 12+ through pgx's stdlib driver or lib/pq.
	Postgres Dialect = iota + 1
	// MySQL is MySQL and MariaDB through github.com/go-sql-driver/mysql.
	MySQL
	// SQLite is SQLite 3.35+ through modernc.org/sqlite, mattn/go-sqlite3
	// or another driver whose package path names sqlite.
	SQLite
)

// All lists every dialect, in the order Parse names them.
var All = []Dialect{Postgres, MySQL, SQLite}

// String is the dialect's canonical lower-case name, as Parse accepts it.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "unknown"
}

// ErrUnknown is wrapped by Parse and Detect when they cannot name the
// dialect.
var ErrUnknown = errors.New("unknown SQL dialect")

// Parse returns the dialect called name, ignoring case and surrounding
// space: "postgres" (or "postgresql", "pg", "pgx"), "mysql" (or
// "mariadb"), "sqlite" (or "sqlite3"). These are also the names of the
// GORM dialectors and database/sql drivers for each family.
func Parse(name string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "postgres", "postgresql", "pg", "pgx":
		return Postgres, nil
	case "mysql", "mariadb":
		return MySQL, nil
	case "sqlite", "sqlite3":
		return SQLite, nil
	}
	return 0, fmt.Errorf("%w %q (known: postgres, mysql, sqlite)", ErrUnknown, name)
}

// Detect tells the dialect of db from the Go type of its driver: pgx's
// stdlib driver and lib/pq are Postgres; go-sql-driver/mysql is MySQL
// (and MariaDB); a driver whose package path or type name says sqlite
// (modernc.org/sqlite, mattn/go-sqlite3, …) is SQLite. A driver wrapped
// by instrumentation (otelsql and the like) hides its type; the caller
// then has to be told the dialect by name.
func Detect(db *sql.DB) (Dialect, error) {
	if db == nil {
		return 0, fmt.Errorf("%w: nil *sql.DB", ErrUnknown)
	}
	t := reflect.TypeOf(db.Driver())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var pkg, name string
	if t != nil {
		pkg, name = t.PkgPath(), t.Name()
	}
	if d := byDriver(pkg, name); d != 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%w: cannot tell the dialect of driver %s.%s", ErrUnknown, pkg, name)
}

// byDriver places a driver type by its package path and name, or 0.
func byDriver(pkg, name string) Dialect {
	switch {
	case strings.HasPrefix(pkg, "github.com/jackc/pgx"), pkg == "github.com/lib/pq":
		return Postgres
	case inPackage(pkg, mysqlDriverPkg):
		return MySQL
	case strings.Contains(strings.ToLower(pkg), "sqlite"), strings.Contains(strings.ToLower(name), "sqlite"):
		return SQLite
	}
	return 0
}

// inPackage reports whether pkg is root or a package below it.
func inPackage(pkg, root string) bool {
	return pkg == root || strings.HasPrefix(pkg, root+"/")
}

// Quote quotes one identifier: backticks on MySQL, double quotes
// elsewhere, with the quote character doubled inside.
func (d Dialect) Quote(ident string) string {
	if d == MySQL {
		return "`" + strings.ReplaceAll(ident, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// QuoteTable quotes a table name, splitting "schema.table" in two.
func (d Dialect) QuoteTable(name string) string {
	if schema, table, ok := strings.Cut(name, "."); ok {
		return d.Quote(schema) + "." + d.Quote(table)
	}
	return d.Quote(name)
}

// Placeholder is the i-th (1-based) bind parameter: $i on Postgres, ?i on
// SQLite (numbered, so one argument can be used twice), ? on MySQL.
func (d Dialect) Placeholder(i int) string {
	switch d {
	case Postgres:
		return "$" + strconv.Itoa(i)
	case SQLite:
		return "?" + strconv.Itoa(i)
	}
	return "?"
}

// Rebind turns a query written with ? placeholders into the dialect's:
// $1, $2, … on Postgres; unchanged elsewhere. The queries it sees are
// colcrypt's own, which hold no ? inside a literal.
func (d Dialect) Rebind(q string) string {
	if d != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// SQLiteTimeLayout is how timestamps are stored on SQLite: RFC 3339 with
// fixed nanoseconds, always in UTC, so stored times compare correctly as
// text and read well in the sqlite3 shell.
const SQLiteTimeLayout = "2006-01-02T15:04:05.000000000Z"

// TimeArg encodes a timestamp for one of colcrypt's own time columns:
// the time in UTC, as text on SQLite.
func (d Dialect) TimeArg(t time.Time) any {
	if d == SQLite {
		return t.UTC().Format(SQLiteTimeLayout)
	}
	return t.UTC()
}
