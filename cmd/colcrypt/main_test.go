package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// bin is the colcrypt binary, built once by TestMain: the tests run it as
// users and scripts do, as a separate process that can be killed.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "colcrypt-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "colcrypt")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if err := testhelpers.TerminateContainers(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is a database and a master key file, named the way the CLI
// takes them, plus the library objects the test checks the data with.
type fixture struct {
	t       testing.TB
	dialect string
	dsn     string
	kmsURL  string
	keyFile string
	db      *sql.DB
}

func newFixture(t testing.TB, dialect string) *fixture {
	t.Helper()
	f := &fixture{t: t, dialect: dialect, keyFile: filepath.Join(t.TempDir(), "master.keys")}
	if err := localkms.GenerateKeyFile(f.keyFile, "k1"); err != nil {
		t.Fatal(err)
	}
	f.kmsURL = "local://" + f.keyFile + "?id=k1"
	var err error
	switch dialect {
	case "postgres":
		f.dsn = testhelpers.Postgres(t)
		f.db, err = sql.Open("pgx", f.dsn)
	case "sqlite":
		path := filepath.Join(t.TempDir(), "app.db")
		f.dsn = "sqlite://" + path
		f.db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(20000)")
	case "mysql":
		dsn := testhelpers.MySQL(t)
		f.dsn = "mysql://" + dsn
		f.db, err = sql.Open("mysql", dsn)
	default:
		t.Fatalf("newFixture(%q): unknown dialect", dialect)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	return f
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// emailOf is the plaintext of generated row id; every 50th is NULL.
func emailOf(id int64) (string, bool) {
	if id%50 == 0 {
		return "", false
	}
	return fmt.Sprintf("person%d@example.com", id), true
}

func tenantOf(id int64) string { return []string{"acme", "globex", "initech"}[id%3] }

// users creates users(id, tenant, email, email_enc, email_bidx) with n rows.
func (f *fixture) users(n int) {
	f.t.Helper()
	blob, gen := "bytea", "generate_series(1, $1) AS g(x)"
	switch f.dialect {
	case "sqlite":
		blob = "BLOB"
	case "mysql":
		blob = "LONGBLOB"
	}
	f.exec("CREATE TABLE users (id bigint PRIMARY KEY, tenant text NOT NULL, email text, email_enc " + blob + ", email_bidx " + blob + ")")
	email := `CASE WHEN x % 50 = 0 THEN NULL ELSE 'person' || x || '@example.com' END`
	tenant := `CASE x % 3 WHEN 0 THEN 'acme' WHEN 1 THEN 'globex' ELSE 'initech' END`
	if f.dialect == "sqlite" {
		f.exec(`INSERT INTO users (id, tenant, email) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?1)
			SELECT x, `+tenant+`, `+email+` FROM g`, n)
		return
	}
	if f.dialect == "mysql" {
		// The digits 0-9, cross-joined: MySQL caps recursive CTEs at 1000
		// rows by default.
		digits := "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
		email = strings.ReplaceAll(email, `'person' || x || '@example.com'`, `CONCAT('person', x, '@example.com')`)
		f.exec(`INSERT INTO users (id, tenant, email) SELECT x, `+tenant+`, `+email+` FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * g.d + 1 AS x FROM `+
			digits+` a, `+digits+` b, `+digits+` c, `+digits+` e, `+digits+` g) s WHERE x <= ?`, n)
		return
	}
	f.exec(`INSERT INTO users (id, tenant, email) SELECT x, `+tenant+`, `+email+` FROM `+gen, n)
}

// run runs the binary with the fixture's database and master key in the
// environment, and returns its exit code and output.
type runResult struct {
	code           int
	stdout, stderr string
}

func (f *fixture) run(args ...string) runResult {
	f.t.Helper()
	cmd := f.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatalf("run colcrypt %v: %v", args, err)
	}
	return runResult{code, out.String(), errb.String()}
}

func (f *fixture) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), envDSN+"="+f.dsn, envKMS+"="+f.kmsURL)
	return cmd
}

// mustRun runs the binary and fails unless it exits with want.
func (f *fixture) mustRun(want int, args ...string) runResult {
	f.t.Helper()
	r := f.run(args...)
	if r.code != want {
		f.t.Fatalf("colcrypt %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func decodeJSON[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not JSON (%v):\n%s", err, s)
	}
	return v
}

// encryptor opens the fixture's key table the way the application does.
func (f *fixture) encryptor(kmsURL string) *field.Encryptor {
	f.t.Helper()
	ctx := context.Background()
	kek, err := kms.Open(ctx, kmsURL)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { kek.Close() })
	store, err := keystore.New(f.db, kek, keystore.WithDialect(f.dialect))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(store.Close)
	return field.NewEncryptor(store)
}

// checkEncrypted checks that every row's email_enc opens to its email's
// original value, sealed exactly once.
func (f *fixture) checkEncrypted(enc *field.Encryptor, n int) {
	f.t.Helper()
	rows, err := f.db.Query("SELECT id, tenant, email_enc FROM users ORDER BY id")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id int64
		var tenant string
		var v []byte
		if err := rows.Scan(&id, &tenant, &v); err != nil {
			f.t.Fatal(err)
		}
		seen++
		want, ok := emailOf(id)
		if !ok {
			if v != nil {
				f.t.Fatalf("row %d: email_enc = %x, want NULL", id, v)
			}
			continue
		}
		pt, err := enc.Open(context.Background(), field.Scope{Tenant: tenant, Table: "users", Column: "email_enc"}, v)
		if err != nil || string(pt) != want {
			f.t.Fatalf("row %d: Open(email_enc) = %q, %v; want %q (sealed once)", id, pt, err, want)
		}
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	if seen != n {
		f.t.Fatalf("saw %d rows, want %d", seen, n)
	}
}

func (f *fixture) scalar(q string) int64 {
	f.t.Helper()
	var n int64
	if err := f.db.QueryRow(q).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}
