package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) { testhelpers.Main(m) }

// env is one database with a key table, a Store over a local master key,
// an Encryptor and a Migrator.
type env struct {
	t       testing.TB
	d       dialect
	db      *sql.DB
	kek     *kms.Keeper
	store   *keystore.Store
	enc     *field.Encryptor
	m       *Migrator
	keyFile string
}

// dialects are the engines every table test runs on.
var dialects = []struct {
	name string
	d    dialect
}{{"postgres", dialectPostgres}, {"sqlite", dialectSQLite}, {"mysql", dialectMySQL}}

func openDB(t testing.TB, d dialect) *sql.DB {
	t.Helper()
	switch d {
	case dialectPostgres:
		return testhelpers.OpenPostgres(t)
	case dialectMySQL:
		return testhelpers.OpenMySQL(t)
	}
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatalf("sql.Open(sqlite) = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnv(t testing.TB, d dialect) *env {
	t.Helper()
	return newEnvDB(t, d, openDB(t, d))
}

// newEnvDB is newEnv on a database the caller opened.
func newEnvDB(t testing.TB, d dialect, db *sql.DB) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, d: d, db: db, keyFile: filepath.Join(t.TempDir(), "master.keys")}
	if err := localkms.GenerateKeyFile(e.keyFile, "k1"); err != nil {
		t.Fatalf("GenerateKeyFile = %v", err)
	}
	kek, err := kms.Open(ctx, "local://"+e.keyFile+"?id=k1")
	if err != nil {
		t.Fatalf("kms.Open = %v", err)
	}
	t.Cleanup(func() { kek.Close() })
	e.kek = kek
	kd := d.Name()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect(kd)); err != nil {
		t.Fatalf("keystore.CreateTable = %v", err)
	}
	e.store, err = keystore.New(db, kek, keystore.WithDialect(kd))
	if err != nil {
		t.Fatalf("keystore.New = %v", err)
	}
	t.Cleanup(e.store.Close)
	e.enc = field.NewEncryptor(e.store)
	if e.m, err = New(db, e.enc, WithDialect(d.Name())); err != nil {
		t.Fatalf("migrate.New = %v", err)
	}
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// typ maps a Postgres type name to the dialect's.
func (e *env) typ(pg string) string {
	if e.d == dialectPostgres {
		return pg
	}
	if e.d == dialectMySQL {
		switch pg {
		case "bytea":
			return "LONGBLOB"
		case "text":
			return "VARCHAR(255)"
		}
		return pg
	}
	switch pg {
	case "bytea":
		return "BLOB"
	case "bigint":
		return "INTEGER"
	}
	return strings.ToUpper(pg)
}

// tenants of the generated rows.
var tenants = []string{"acme", "globex", "initech"}

// emailOf is the generated plaintext of row id; every 97th row is NULL
// and every 101st the empty string.
func emailOf(id int64) (string, bool) {
	switch {
	case id%97 == 0:
		return "", false
	case id%101 == 0:
		return "", true
	}
	return fmt.Sprintf("user%d@Example.com", id), true
}

// createUsers creates users(id, tenant, email, email_enc, email_bidx,
// raw, n) with n generated rows.
func (e *env) createUsers(n int) {
	e.t.Helper()
	e.exec(fmt.Sprintf(`CREATE TABLE users (
		id %s PRIMARY KEY, tenant text, email text, email_enc %s, email_bidx %s, raw %s, n integer)`,
		e.typ("bigint"), e.typ("bytea"), e.typ("bytea"), e.typ("bytea")))
	e.fill("users", n)
}

// fill inserts n generated rows into table's id, tenant, email and raw
// (the email's bytes) columns.
func (e *env) fill(table string, n int) {
	e.t.Helper()
	email := `CASE WHEN x % 97 = 0 THEN NULL WHEN x % 101 = 0 THEN '' ELSE 'user' || x || '@Example.com' END`
	tenant := `CASE x % 3 WHEN 0 THEN 'acme' WHEN 1 THEN 'globex' ELSE 'initech' END`
	if e.d == dialectPostgres {
		e.exec(`INSERT INTO `+table+` (id, tenant, email, raw, n) SELECT x, `+tenant+`, `+email+`, convert_to(`+email+`, 'UTF8'), x FROM generate_series(1, $1) AS g(x)`, n)
		e.exec(`ANALYZE ` + table)
		return
	}
	if e.d == dialectMySQL {
		email := strings.ReplaceAll(email, `'user' || x || '@Example.com'`, `CONCAT('user', x, '@Example.com')`)
		// The recursion limit is a session variable, named differently on
		// MariaDB and MySQL: set whichever exists, on one connection.
		ctx := context.Background()
		c, err := e.db.Conn(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		defer c.Close()
		_, err1 := c.ExecContext(ctx, "SET SESSION max_recursive_iterations = 10000000")
		_, err2 := c.ExecContext(ctx, "SET SESSION cte_max_recursion_depth = 10000000")
		if err1 != nil && err2 != nil {
			e.t.Fatalf("raise the CTE recursion limit: %v; %v", err1, err2)
		}
		q := `INSERT INTO ` + table + ` (id, tenant, email, raw, n) SELECT x, ` + tenant + `, ` + email + `, CAST(` + email + ` AS BINARY), x
			FROM (WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?) SELECT x FROM g) AS g`
		if _, err := c.ExecContext(ctx, q, n); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		return
	}
	e.exec(`INSERT INTO `+table+` (id, tenant, email, raw, n) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?1)
		SELECT x, `+tenant+`, `+email+`, CAST(`+email+` AS BLOB), x FROM g`, n)
}

func tenantOfID(id int64) string { return tenants[id%3] }

// open opens a raw stored value of users.col for its row.
func (e *env) open(tenant, col string, raw []byte) ([]byte, error) {
	return e.enc.Open(context.Background(), field.Scope{Tenant: tenant, Table: "users", Column: col}, raw)
}

// rawRow is a row's id, tenant and the raw bytes of one column.
type rawRow struct {
	id     int64
	tenant string
	v      []byte
	valid  bool
}

func (e *env) rawColumn(table, col string) []rawRow {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT id, tenant, ` + col + ` FROM ` + table + ` ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []rawRow
	for rows.Next() {
		var r rawRow
		var c cell
		var tenant sql.NullString
		if err := rows.Scan(&r.id, &tenant, &c); err != nil {
			e.t.Fatal(err)
		}
		r.tenant, r.v, r.valid = tenant.String, c.b, c.valid
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// checkEncrypted checks that every row of users.col holds the encryption
// of want(id) (NULL where want is not ok), sealed once — the plaintext is
// the original, not a ciphertext — and that no raw value holds its
// plaintext.
func (e *env) checkEncrypted(col string, want func(id int64) (string, bool)) {
	e.t.Helper()
	rows := e.rawColumn("users", col)
	if len(rows) == 0 {
		e.t.Fatalf("users.%s has no rows", col)
	}
	bad := 0
	for _, r := range rows {
		w, ok := want(r.id)
		if !ok {
			if r.valid {
				e.t.Errorf("row %d: %s = %q, want NULL", r.id, col, r.v)
				bad++
			}
			continue
		}
		if !r.valid || !looksEncrypted(r.v) {
			e.t.Errorf("row %d: %s = %q (valid %v), want ciphertext", r.id, col, r.v, r.valid)
			bad++
		} else if pt, err := e.open(r.tenant, col, r.v); err != nil || string(pt) != w {
			e.t.Errorf("row %d: Open(%s) = %q, %v; want %q", r.id, col, pt, err, w)
			bad++
		} else if len(w) >= 8 && bytes.Contains(r.v, []byte(w)) {
			e.t.Errorf("row %d: %s holds its plaintext", r.id, col)
			bad++
		}
		if bad > 10 {
			e.t.Fatalf("too many bad rows")
		}
	}
}

func mustRun(t testing.TB, m *Migrator, job Job, o RunOptions) *Result {
	t.Helper()
	res, err := m.Run(context.Background(), job, o)
	if err != nil {
		t.Fatalf("Run(%s) = %+v, %v", job.Kind, res, err)
	}
	return res
}

// countRows counts the rows matching a WHERE clause.
func (e *env) count(table, where string) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.QueryRow("SELECT count(*) FROM " + table + " WHERE " + where).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

var _ = codec.Magic
