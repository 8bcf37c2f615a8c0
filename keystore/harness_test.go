package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql" // also registers "mysql"
	"github.com/jackc/pgx/v5"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"
)

const (
	testKEK  = "test://kek-a"
	testKEK2 = "test://kek-b"
)

// testDB is a database with a fresh key table of its own.
type testDB struct {
	dialect sqldialect.Dialect
	driver  string
	dsn     string
	table   string
	db      *sql.DB // the first pool
}

// opts are the Store options that point at the test's table.
func (d *testDB) opts() []Option {
	return []Option{WithDialect(d.dialect.String()), WithTable(d.table)}
}

// open returns a new pool on the same database, as another process
// would have.
func (d *testDB) open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(d.driver, d.dsn)
	if err != nil {
		t.Fatalf("sql.Open(%s) = %v", d.driver, err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

// q rewrites a query on "keys" with ? placeholders for the test's table
// and dialect.
func (d *testDB) q(query string) string {
	return d.dialect.Rebind(strings.ReplaceAll(query, "{keys}", d.table))
}

var tableSeq atomic.Int64

// forEachBackend runs f once on sqldialect.Postgres, once on sqldialect.MySQL/MariaDB and once
// on sqldialect.SQLite, each with a key table of its own: the same cases on every
// dialect. sqldialect.Postgres and sqldialect.MySQL tests share one database per test binary
// when COLCRYPT_TEST_DATABASE_URL / COLCRYPT_TEST_MYSQL_URL is set
// (creating a sqldialect.Postgres database takes seconds), each test in its own table.
func forEachBackend(t *testing.T, f func(t *testing.T, tdb *testDB)) {
	t.Helper()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, postgresTestDB(t))
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		dsn := sharedMySQL
		if dsn == "" {
			dsn = testhelpers.MySQL(t)
		}
		f(t, newTestDB(t, sqldialect.MySQL, "mysql", dsn))
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "keys.db")
		f(t, newTestDB(t, sqldialect.SQLite, "sqlite", "file:"+path+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"))
	})
}

// postgresTestDB returns a Postgres database with a fresh key table.
func postgresTestDB(t *testing.T) *testDB {
	t.Helper()
	dsn := sharedPostgres
	if dsn == "" {
		dsn = testhelpers.Postgres(t)
	}
	return newTestDB(t, sqldialect.Postgres, "pgx", dsn)
}

// newTestDB opens dsn and creates a key table of the test's own in it.
func newTestDB(t *testing.T, d sqldialect.Dialect, driver, dsn string) *testDB {
	t.Helper()
	tdb := &testDB{dialect: d, driver: driver, dsn: dsn, table: fmt.Sprintf("keys_%d", tableSeq.Add(1))}
	tdb.db = tdb.open(t)
	mustCreateTable(t, tdb)
	return tdb
}

func mustCreateTable(t testing.TB, tdb *testDB) {
	t.Helper()
	if err := CreateTable(context.Background(), tdb.db, WithDialect(tdb.dialect.String()), WithTable(tdb.table)); err != nil {
		t.Fatalf("CreateTable() = %v", err)
	}
}

// sharedPostgres and sharedMySQL are the URL and DSN of the databases
// TestMain created, or "".
var sharedPostgres, sharedMySQL string

func TestMain(m *testing.M) {
	drop, dropMySQL := func() {}, func() {}
	if base := os.Getenv("COLCRYPT_TEST_DATABASE_URL"); base != "" {
		var err error
		if sharedPostgres, drop, err = createSharedDatabase(base); err != nil {
			fmt.Fprintf(os.Stderr, "keystore tests: shared sqldialect.Postgres database: %v\n", err)
			os.Exit(1)
		}
	}
	if base := os.Getenv("COLCRYPT_TEST_MYSQL_URL"); base != "" {
		var err error
		if sharedMySQL, dropMySQL, err = createSharedMySQL(base); err != nil {
			drop()
			fmt.Fprintf(os.Stderr, "keystore tests: shared sqldialect.MySQL database: %v\n", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	drop()
	dropMySQL()
	os.Exit(code)
}

// createSharedMySQL creates a database on the server of the DSN base and
// returns base's DSN pointing at it, with parseTime=true and loc=UTC.
func createSharedMySQL(base string) (string, func(), error) {
	cfg, err := mysqldrv.ParseDSN(base)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", "COLCRYPT_TEST_MYSQL_URL", err)
	}
	admin := cfg.Clone()
	admin.DBName = ""
	conn, err := mysqldrv.NewConnector(admin)
	if err != nil {
		return "", nil, err
	}
	db := sql.OpenDB(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [6]byte
	rand.Read(b[:])
	name := "colcrypt_keystore_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		db.Close()
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
		db.Close()
	}
	out := cfg.Clone()
	out.DBName = name
	out.ParseTime = true
	out.Loc = time.UTC
	return out.FormatDSN(), drop, nil
}

func createSharedDatabase(base string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "colcrypt_keystore_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		return "", nil, fmt.Errorf("%s must be a URL", "COLCRYPT_TEST_DATABASE_URL")
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	}
	return u.String(), drop, nil
}

// newTestStore returns a Store on tdb's table, closed by t.Cleanup, with
// fast retries.
func newTestStore(t testing.TB, tdb *testDB, db *sql.DB, kek *kms.Keeper, opts ...Option) *Store {
	t.Helper()
	opts = append(append([]Option{WithTuning(Tuning{KMSAttempts: 5, KMSRetryBase: time.Millisecond, KMSRetryMax: 4 * time.Millisecond})}, tdb.opts()...), opts...)
	s, err := New(db, kek, opts...)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// fakeClock is a settable clock for cache expiry. It starts on a whole
// second so that timestamps survive sqldialect.Postgres's microsecond precision.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var ctxb = context.Background()

// sealOpen seals a value with a's cipher for (table, column) and opens it
// with b's: it proves a and b hold the same data key.
func sealOpen(t testing.TB, a, b *dataKey) {
	t.Helper()
	ca, err := a.Cipher("patients", "name")
	if err != nil {
		t.Fatalf("Cipher() = %v", err)
	}
	cb, err := b.Cipher("patients", "name")
	if err != nil {
		t.Fatalf("Cipher() = %v", err)
	}
	msg := []byte(fmt.Sprintf("secret of %s v%d", a.Tenant(), a.Version()))
	v, err := ca.Seal(nil, msg)
	if err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	got, err := cb.Open(nil, v)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open(Seal(%q)) = %q, %v; want the same plaintext (keys differ?)", msg, got, err)
	}
}

// rawRow is a key table row read with plain SQL.
type rawRow struct {
	state   string
	kekURI  string
	wrapped []byte
	null    bool
}

func readRaw(t testing.TB, tdb *testDB, tenant string, version uint32) rawRow {
	t.Helper()
	var r rawRow
	err := tdb.db.QueryRow(tdb.q(`SELECT state, kek_uri, wrapped_dek FROM {keys} WHERE tenant_id = ? AND version = ?`),
		tenant, int64(version)).Scan(&r.state, &r.kekURI, &r.wrapped)
	if err != nil {
		t.Fatalf("read row (%s, %d) = %v", tenant, version, err)
	}
	r.null = r.wrapped == nil
	return r
}

func countRows(t testing.TB, tdb *testDB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := tdb.db.QueryRow(tdb.q(`SELECT COUNT(*) FROM {keys} WHERE `+where), args...).Scan(&n); err != nil {
		t.Fatalf("count rows where %s = %v", where, err)
	}
	return n
}

// waitFor polls cond until it holds, failing after a generous bound. It
// waits for a state, never measures time.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func isKMSError(err error) bool {
	var ke *Error
	return errors.As(err, &ke)
}
