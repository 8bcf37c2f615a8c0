package field_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // "gcpkms" for the fake server
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// env is an Encryptor over a real key table and a real KMS client.
type env struct {
	enc   *field.Encryptor
	store *keystore.Store
	db    *sql.DB
	kek   *kms.Keeper
	fake  *insecurefakekms.Server // nil with a local KMS
	dsn   string                  // the Postgres URL, when on Postgres
}

const insecurefakeKeyName = insecurefakekms.DefaultKeyName

// backend names a database the same cases run on.
type backend struct {
	name string
	// open returns a fresh database, its dialect and, on Postgres, its URL.
	open func(t *testing.T) (*sql.DB, string, string)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (*sql.DB, string, string) {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "field.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, "sqlite", ""
	}},
	{"postgres", func(t *testing.T) (*sql.DB, string, string) {
		dsn := testhelpers.Postgres(t)
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db, "postgres", dsn
	}},
}

// forEachBackend runs f on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// newEnv builds an env on b with a local master key.
func newEnv(t *testing.T, b backend, opts ...field.Option) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.keys")
	if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
		t.Fatal(err)
	}
	kek, err := kms.Open(context.Background(), localkms.FileURL(path, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kek.Close() })
	return newEnvWith(t, b, kek, nil, opts...)
}

// newFakeKMSEnv builds an env on b whose master key is in the fake Cloud
// KMS server, reached through the real client over gRPC.
func newFakeKMSEnv(t *testing.T, b backend, opts ...field.Option) *env {
	t.Helper()
	srv := insecurefakekms.Start(t, insecurefakekms.DefaultKeyName)
	kek, err := kms.Open(context.Background(), srv.KeyURI(insecurefakekms.DefaultKeyName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kek.Close() })
	return newEnvWith(t, b, kek, srv, opts...)
}

func newEnvWith(t *testing.T, b backend, kek *kms.Keeper, srv *insecurefakekms.Server, opts ...field.Option) *env {
	t.Helper()
	db, dialect, dsn := b.open(t)
	ctx := context.Background()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect(dialect)); err != nil {
		t.Fatal(err)
	}
	store, err := keystore.New(db, kek, keystore.WithDialect(dialect))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return &env{enc: field.NewEncryptor(store, opts...), store: store, db: db, kek: kek, fake: srv, dsn: dsn}
}

// newBenchEnv is an Encryptor over SQLite and a local master key, for
// benchmarks of the warm path (no database or KMS on it).
func newBenchEnv(b *testing.B, opts ...field.Option) *field.Encryptor {
	b.Helper()
	dir := b.TempDir()
	path := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	kek, err := kms.Open(ctx, localkms.FileURL(path, "k1"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kek.Close() })
	db, err := sql.Open("sqlite", filepath.Join(dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		b.Fatal(err)
	}
	store, err := keystore.New(db, kek, keystore.WithDialect("sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(store.Close)
	return field.NewEncryptor(store, opts...)
}

// core is the Engine behind enc, for tests of what the integrations reach.
func core(enc *field.Encryptor) *fieldcore.Engine { return (*fieldcore.Engine)(enc) }
