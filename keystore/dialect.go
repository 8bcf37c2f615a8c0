package keystore

import (
	"database/sql"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A Dialect is the SQL spoken by one database family: column types,
// placeholders, how to lock a tenant's rows, how a unique violation looks.
// The set is closed ([Postgres], [MySQL], [SQLite]); everything a dialect
// differs in is a method here, so adding one is one file beside
// dialect_postgres.go and an entry in the dialects list.
type Dialect interface {
	// Name is the dialect's lower-case name, as ParseDialect accepts it.
	Name() string

	// ddl returns the statements that create the key table and its
	// indexes if they do not exist, run in order in one transaction.
	ddl(table string) []string
	// ddlLock returns a statement run first in that transaction so that
	// two processes creating the table at once do not collide, or "".
	ddlLock(table string) string
	// rebind turns a query written with ? placeholders into the dialect's.
	rebind(query string) string
	// quote quotes an identifier already checked by validTable.
	quote(ident string) string
	// insertIgnore returns the INSERT statement prefix and suffix that
	// skip a row violating any unique constraint, reporting 0 rows, or
	// else fail with an error isUniqueViolation recognizes.
	insertIgnore() (prefix, suffix string)
	// lockTenant returns a statement, taking the tenant id as its only
	// argument, that when run first in a transaction serializes it against
	// every other writer of that tenant's rows until commit.
	lockTenant(table string) string
	// isUniqueViolation reports whether err is a primary key or unique
	// index violation.
	isUniqueViolation(err error) bool
	// isSerializationFailure reports whether the server rolled back the
	// statement or transaction of err to break a deadlock or a
	// serialization conflict (SQLSTATE 40001, 40P01): another writer won
	// the race, and running it again may succeed.
	isSerializationFailure(err error) bool
	// timeArg encodes a timestamp for the created_at/updated_at columns.
	timeArg(t time.Time) any
	// matchDriver reports whether a database/sql driver type from the
	// named package speaks this dialect.
	matchDriver(pkgPath string) bool
}

// dialects lists every dialect, for DialectFor and ParseDialect.
var dialects = []Dialect{Postgres, MySQL, SQLite}

// DialectFor tells the dialect of db from the type of its driver: pgx's
// stdlib driver and lib/pq are Postgres; go-sql-driver/mysql is MySQL
// (and MariaDB); modernc.org/sqlite, mattn/go-sqlite3 and the other SQLite
// drivers are SQLite. A driver wrapped by instrumentation (otelsql and the
// like) hides its type; pass [WithDialect] to New, or the dialect to
// CreateTable, instead.
func DialectFor(db *sql.DB) (Dialect, error) {
	if db == nil {
		return nil, fmt.Errorf("keystore: DialectFor: nil *sql.DB")
	}
	t := reflect.TypeOf(db.Driver())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var pkg, name string
	if t != nil {
		pkg, name = t.PkgPath(), t.Name()
	}
	for _, d := range dialects {
		if d.matchDriver(pkg) {
			return d, nil
		}
	}
	return nil, fmt.Errorf("keystore: cannot tell the SQL dialect of driver %s.%s; pass keystore.WithDialect", pkg, name)
}

// ParseDialect returns the dialect called name ("postgres", "mysql",
// "sqlite"); "mariadb" is MySQL.
func ParseDialect(name string) (Dialect, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "postgresql", "pg", "pgx":
		n = "postgres"
	case "mariadb":
		n = "mysql"
	case "sqlite3":
		n = "sqlite"
	}
	names := make([]string, 0, len(dialects))
	for _, d := range dialects {
		if d.Name() == n {
			return d, nil
		}
		names = append(names, d.Name())
	}
	return nil, fmt.Errorf("keystore: unknown dialect %q (known: %s)", name, strings.Join(names, ", "))
}

// rebindDollar rewrites ? placeholders as $1, $2, … . The queries it sees
// are this package's own constants, which hold no ? inside a literal.
func rebindDollar(q string) string {
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
