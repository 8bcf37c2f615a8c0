// Package testhelpers is what a colcrypt user imports into their own tests:
// a real Postgres or MySQL/MariaDB database per test, and assertions such
// as "this column holds no plaintext". The fake Cloud KMS is in
// testhelpers/insecurefakekms.
//
// # Environment
//
//	COLCRYPT_TEST_DATABASE_URL         a Postgres server; each test gets a fresh database on it
//	COLCRYPT_TEST_MYSQL_URL            a MySQL or MariaDB server, as a go-sql-driver DSN
//	                                   (root@tcp(127.0.0.1:3306)/test?parseTime=true)
//	COLCRYPT_TEST_POSTGRES_IMAGE       the image the testcontainers path starts without a
//	                                   Postgres URL (default postgres:16-alpine)
//	COLCRYPT_TEST_MYSQL_IMAGE          the same for MySQL (default mariadb:10.11)
//	COLCRYPT_TEST_CONTAINERS_DISABLED  non-empty: the container path is off on purpose, and why
//	CI=true                            a test that needs a database and finds none fails
//	                                   instead of skipping
package testhelpers

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// envDatabaseURL names a Postgres server for tests. Each test gets a fresh
// database on it, dropped when the test ends.
const envDatabaseURL = "COLCRYPT_TEST_DATABASE_URL"

// InCI reports whether tests run under CI (CI=true), where a test that needs
// Postgres and finds none must fail rather than skip.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Postgres returns the URL of a fresh, empty Postgres database for t,
// dropped by t.Cleanup. With COLCRYPT_TEST_DATABASE_URL set, the database is
// created on that server; otherwise a container is started with
// testcontainers-go. Without either, t is skipped, or fails under CI=true.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(envDatabaseURL)
	if base == "" {
		base = postgresContainer(t)
	}
	return freshDatabase(t, base)
}

// OpenPostgres is Postgres opened with database/sql and the pgx driver,
// closed by t.Cleanup.
func OpenPostgres(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", Postgres(t))
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// unavailable skips t, or fails it under CI, with the same message.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI=true and %s", msg)
	}
	t.Skip(msg)
}

// freshDatabase creates a uniquely named database on the server of base
// and returns base pointing at it.
func freshDatabase(t testing.TB, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, "no Postgres at %s=%s: %v", envDatabaseURL, redactURL(base), err)
		return ""
	}
	defer admin.Close(context.Background())

	var b [6]byte
	rand.Read(b[:])
	name := "colcrypt_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		// A keyword/value DSN: append the database name.
		return base + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// redactURL hides a password in a database URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
