package testhelpers_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	_ "modernc.org/sqlite" // "sqlite"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/sqltypes"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// A test that needs Postgres asks for a fresh, empty database of its own,
// dropped when the test ends. With COLCRYPT_TEST_DATABASE_URL set it is
// created on that server; otherwise testcontainers starts one in Docker;
// without either the test is skipped, or fails under CI=true.
//
// In your package the function literal below is the body of a
// func TestPatientsAreEncrypted(t *testing.T). An Example has no
// *testing.T, so runTest (in this file) stands in for go test. The test
// prints nothing when it passes, hence the empty Output, which still makes
// go test run the example: a failure is printed and fails it, a skip (no
// Postgres) is not printed.
func ExamplePostgres() {
	runTest("TestPatientsAreEncrypted", func(t testing.TB) {
		ctx := context.Background()
		db := testhelpers.OpenPostgres(t)

		keyFile := filepath.Join(t.TempDir(), "master.keys")
		if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
			t.Fatal(err)
		}
		kek, err := kms.Open(ctx, localkms.FileURL(keyFile, "k1"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kek.Close() })
		if err := keystore.CreateTable(ctx, db, keystore.WithDialect("postgres")); err != nil {
			t.Fatal(err)
		}
		keys, err := keystore.New(db, kek)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { keys.Close() })
		ssn := sqltypes.NewColumn[string](field.NewEncryptor(keys), "patients", "ssn")

		if _, err := db.ExecContext(ctx, `CREATE TABLE patients (id int PRIMARY KEY, ssn bytea NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO patients VALUES (1, $1)`, ssn.Value(ctx, "acme", "123-45-6789")); err != nil {
			t.Fatal(err)
		}
		testhelpers.AssertNoPlaintext(t, db, "patients", "ssn", "123-45-6789")

		var got string
		if err := db.QueryRowContext(ctx, `SELECT ssn FROM patients WHERE id = 1`).Scan(ssn.Scan(ctx, "acme", &got)); err != nil {
			t.Fatal(err)
		}
		if got != "123-45-6789" {
			t.Fatalf("ssn = %q, want the value written", got)
		}
	})
	// Output:
}

// MySQL and MariaDB work the same way: COLCRYPT_TEST_MYSQL_URL names a
// server (a go-sql-driver/mysql DSN), or testcontainers starts one. The
// key table and the application's tables share the database here.
func ExampleOpenMySQL() {
	runTest("TestKeyTableOnMySQL", func(t testing.TB) {
		ctx := context.Background()
		db := testhelpers.OpenMySQL(t)

		keyFile := filepath.Join(t.TempDir(), "master.keys")
		if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
			t.Fatal(err)
		}
		kek, err := kms.Open(ctx, localkms.FileURL(keyFile, "k1"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kek.Close() })
		if err := keystore.CreateTable(ctx, db, keystore.WithDialect("mysql")); err != nil {
			t.Fatal(err)
		}
		keys, err := keystore.New(db, kek)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { keys.Close() })
		enc := field.NewEncryptor(keys)

		s := field.Scope{Tenant: "acme", Table: "patients", Column: "ssn"}
		v, err := enc.Seal(ctx, s, []byte("123-45-6789"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := enc.Open(ctx, s, v); err != nil || string(got) != "123-45-6789" {
			t.Fatalf("Open = %q, %v; want the sealed value", got, err)
		}
	})
	// Output:
}

// Main is a package's TestMain: it runs the tests, then stops the
// containers that Postgres and MySQL started, which outlive any single
// test. Write it once, in any _test.go file of the package:
//
//	func TestMain(m *testing.M) { testhelpers.Main(m) }
//
// This example is compiled but not run: Main exits the process.
func ExampleMain() {
	var m *testing.M // the *testing.M go test passes to TestMain
	testhelpers.Main(m)
}

// AssertNoPlaintext reads a column with plain SQL, as an attacker with a
// database dump would, and fails the test if a plaintext shows, raw or in
// hex or base64. Here on SQLite: a column written through sqltypes passes,
// one written in base64 instead of encrypted does not.
func ExampleAssertNoPlaintext() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "testhelpers-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, localkms.FileURL(keyFile, "k1"))
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}
	keys, err := keystore.New(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	ssn := sqltypes.NewColumn[string](field.NewEncryptor(keys), "patients", "ssn")

	for _, q := range []string{
		`CREATE TABLE patients (id INTEGER PRIMARY KEY, ssn BLOB)`,
		`CREATE TABLE legacy (id INTEGER PRIMARY KEY, ssn TEXT)`,
		`INSERT INTO legacy VALUES (1, 'MTIzLTQ1LTY3ODk=')`, // base64, not encrypted
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO patients VALUES (1, ?)`, ssn.Value(ctx, "acme", "123-45-6789")); err != nil {
		log.Fatal(err)
	}

	runTest("TestPatients", func(t testing.TB) {
		testhelpers.AssertNoPlaintext(t, db, "patients", "ssn", "123-45-6789")
	})
	runTest("TestLegacy", func(t testing.TB) {
		testhelpers.AssertNoPlaintext(t, db, "legacy", "ssn", "123-45-6789")
	})
	// Output:
	// --- FAIL: TestLegacy
	//     AssertNoPlaintext: legacy.ssn row 1 holds plaintext "MTIzLTQ1LTY3ODk="
}

// runTest runs body as go test runs a test: on its own goroutine, which
// Fatal and Skip end, then the cleanups in reverse order. A failure is
// printed to stdout, where an Example's output is compared, so an
// unexpected one fails the example; a skip goes to stderr.
func runTest(name string, body func(t testing.TB)) {
	t := &exampleT{name: name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.runCleanups()
		body(t)
	}()
	<-done
	switch {
	case t.failed:
		fmt.Println("--- FAIL:", name)
		for _, m := range t.logs {
			fmt.Println("    " + m)
		}
	case t.skipped:
		fmt.Fprintln(os.Stderr, "--- SKIP:", name, t.logs)
	}
}

// exampleT is the part of testing.TB that the helpers and the examples'
// test bodies use. The embedded TB is nil: a method not defined here
// panics, so a helper that starts using one is noticed.
type exampleT struct {
	testing.TB
	name     string
	logs     []string
	cleanups []func()
	failed   bool
	skipped  bool
}

func (t *exampleT) Name() string            { return t.name }
func (t *exampleT) Helper()                 {}
func (t *exampleT) Cleanup(f func())        { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Log(args ...any)         { t.logs = append(t.logs, fmt.Sprint(args...)) }
func (t *exampleT) Logf(f string, a ...any) { t.logs = append(t.logs, fmt.Sprintf(f, a...)) }
func (t *exampleT) Fail()                   { t.failed = true }
func (t *exampleT) Failed() bool            { return t.failed }
func (t *exampleT) FailNow()                { t.failed = true; runtime.Goexit() }
func (t *exampleT) Error(args ...any)       { t.Log(args...); t.Fail() }
func (t *exampleT) Errorf(f string, a ...any) {
	t.Logf(f, a...)
	t.Fail()
}
func (t *exampleT) Fatal(args ...any)         { t.Log(args...); t.FailNow() }
func (t *exampleT) Fatalf(f string, a ...any) { t.Logf(f, a...); t.FailNow() }
func (t *exampleT) SkipNow()                  { t.skipped = true; runtime.Goexit() }
func (t *exampleT) Skip(args ...any)          { t.Log(args...); t.SkipNow() }
func (t *exampleT) Skipf(f string, a ...any)  { t.Logf(f, a...); t.SkipNow() }
func (t *exampleT) Skipped() bool             { return t.skipped }

func (t *exampleT) TempDir() string {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *exampleT) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
