package sqltypes_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/sqltypes"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// newKeeper returns a local master key written to t's temp dir.
func newKeeper(t testing.TB) *kms.Keeper {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
		t.Fatalf("localkms.GenerateKeyFile: %v", err)
	}
	kek, err := kms.Open(context.Background(), "local://"+path+"?id=k1")
	if err != nil {
		t.Fatalf("kms.Open(local): %v", err)
	}
	t.Cleanup(func() { kek.Close() })
	return kek
}

// newStore creates the key table in db and returns a Store over it.
func newStore(t testing.TB, db *sql.DB, d string) *keystore.Store {
	t.Helper()
	ctx := context.Background()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect(d)); err != nil {
		t.Fatalf("keystore.CreateTable: %v", err)
	}
	ks, err := keystore.New(db, newKeeper(t))
	if err != nil {
		t.Fatalf("keystore.New: %v", err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

// openSQLite returns a fresh SQLite database file in t's temp dir.
func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("sql.Open(sqlite): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pgEnv is a fresh Postgres database opened both ways, with a key store.
type pgEnv struct {
	db   *sql.DB // database/sql with the pgx stdlib driver
	pool *pgxpool.Pool
	keys *keystore.Store
	enc  *field.Encryptor
}

func newPG(t testing.TB) *pgEnv {
	t.Helper()
	url := testhelpers.Postgres(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("sql.Open(pgx): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(pool.Close)
	ks := newStore(t, db, "postgres")
	return &pgEnv{db: db, pool: pool, keys: ks, enc: field.NewEncryptor(ks)}
}

type sqliteEnv struct {
	db   *sql.DB
	keys *keystore.Store
	enc  *field.Encryptor
}

func newSQLite(t testing.TB) *sqliteEnv {
	t.Helper()
	db := openSQLite(t)
	ks := newStore(t, db, "sqlite")
	return &sqliteEnv{db: db, keys: ks, enc: field.NewEncryptor(ks)}
}

// mysqlEnv is a fresh MySQL or MariaDB database (COLCRYPT_TEST_MYSQL_URL)
// opened with go-sql-driver/mysql, with a key store.
type mysqlEnv struct {
	db   *sql.DB
	keys *keystore.Store
	enc  *field.Encryptor
}

func newMySQL(t testing.TB) *mysqlEnv {
	t.Helper()
	db := testhelpers.OpenMySQL(t)
	ks := newStore(t, db, "mysql")
	return &mysqlEnv{db: db, keys: ks, enc: field.NewEncryptor(ks)}
}

func mustExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("Exec(%q) = %v", query, err)
	}
}

func mustPoolExec(t testing.TB, pool *pgxpool.Pool, query string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("Exec(%q) = %v", query, err)
	}
}

// equal is reflect.DeepEqual with times compared by instant: the RFC 3339
// plaintext keeps the offset, not the *time.Location.
func equal(a, b any) bool {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	for av.IsValid() && bv.IsValid() && av.Kind() == reflect.Pointer && bv.Kind() == reflect.Pointer {
		if av.IsNil() || bv.IsNil() {
			return av.IsNil() == bv.IsNil()
		}
		av, bv = av.Elem(), bv.Elem()
	}
	if av.IsValid() && bv.IsValid() {
		if at, ok := av.Interface().(time.Time); ok {
			bt, ok := bv.Interface().(time.Time)
			return ok && at.Equal(bt)
		}
		return reflect.DeepEqual(av.Interface(), bv.Interface())
	}
	return reflect.DeepEqual(a, b)
}

// rawValue reads one stored value with plain SQL.
func rawValue(t testing.TB, db *sql.DB, query string, args ...any) []byte {
	t.Helper()
	var raw []byte
	if err := db.QueryRowContext(context.Background(), query, args...).Scan(&raw); err != nil {
		t.Fatalf("QueryRow(%q).Scan = %v", query, err)
	}
	return raw
}

// ParallelSeal's result goes straight into pgx's CopyFrom.
var _ pgx.CopyFromSource = sqltypes.CopyFromSource(nil)
