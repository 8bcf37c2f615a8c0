package gormplugin_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers"
)

func TestMain(m *testing.M) { testhelpers.Main(m) }

// A dialect is one database the table of cases runs on: how to make a
// fresh database and open it, for GORM and for the key store.
type dialect struct {
	name string
	// dsn returns the DSN of a fresh, empty database for t.
	dsn func(t testing.TB) string
	// gorm returns a Dialector that opens dsn.
	gorm func(dsn string) gorm.Dialector
	// driver is the database/sql driver that opens dsn: the key store's
	// own pool, which the plugin refuses to share with GORM.
	driver string
	// reuse returns a Dialector over an open database.
	reuse func(*sql.DB) gorm.Dialector
	// truncate empties the tables.
	truncate func(tables ...string) []string
}

// open returns a Dialector for a fresh, empty database for t.
func (d dialect) open(t testing.TB) gorm.Dialector { return d.gorm(d.dsn(t)) }

// keyDB opens dsn again, as a *sql.DB of the key store's own, closed
// when t ends.
func (d dialect) keyDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		t.Fatalf("sql.Open(%s): %v", d.driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var dialects = []dialect{
	{
		name:   "postgres",
		dsn:    func(t testing.TB) string { return testhelpers.Postgres(t) },
		gorm:   func(dsn string) gorm.Dialector { return postgres.Open(dsn) },
		driver: "pgx",
		reuse:  func(db *sql.DB) gorm.Dialector { return postgres.New(postgres.Config{Conn: db}) },
		truncate: func(tables ...string) []string {
			return []string{"TRUNCATE " + strings.Join(tables, ", ") + " RESTART IDENTITY CASCADE"}
		},
	},
	{
		name: "sqlite",
		dsn: func(t testing.TB) string {
			// WAL and a busy timeout: the key store writes through its own
			// *sql.DB on the same file while GORM holds a connection.
			return filepath.Join(t.TempDir(), "test.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
		},
		gorm:   func(dsn string) gorm.Dialector { return sqlite.Open(dsn) },
		driver: sqlite.DriverName,
		reuse:  func(db *sql.DB) gorm.Dialector { return &sqlite.Dialector{Conn: db} },
		truncate: func(tables ...string) []string {
			var qs []string
			for _, t := range tables {
				qs = append(qs, "DELETE FROM "+t)
			}
			return append(qs, "DELETE FROM sqlite_sequence")
		},
	},
	{
		// MySQL or MariaDB (COLCRYPT_TEST_MYSQL_URL), through the driver
		// applications use with GORM.
		name:   "mysql",
		dsn:    func(t testing.TB) string { return testhelpers.MySQL(t) },
		gorm:   func(dsn string) gorm.Dialector { return mysql.Open(dsn) },
		driver: "mysql",
		reuse: func(db *sql.DB) gorm.Dialector {
			return mysql.New(mysql.Config{Conn: db, SkipInitializeWithVersion: true})
		},
		truncate: func(tables ...string) []string {
			// TRUNCATE refuses a table a foreign key refers to, even an
			// empty one, so delete (children first, as the callers list
			// them) and restart the ids.
			var qs []string
			for _, t := range tables {
				qs = append(qs, "DELETE FROM "+t)
			}
			for _, t := range tables {
				if !strings.HasPrefix(t, sqldialect.DefaultKeyTable) {
					qs = append(qs, "ALTER TABLE "+t+" AUTO_INCREMENT = 1")
				}
			}
			return qs
		},
	},
}

// env is one test's database with the plugin installed.
type env struct {
	dialect string
	db      *gorm.DB // GORM with the plugin
	raw     *sql.DB  // GORM's pool, for plain SQL
	keyDB   *sql.DB  // the same database, the key store's own pool
	keys    *keystore.Store
	enc     *field.Encryptor
}

type envOptions struct {
	kek     *kms.Keeper
	encOpts []field.Option
	keyOpts []keystore.Option
	plugOps []gormplugin.Option
	noUse   bool
}

// newEnv opens d for t with a local master key, a key store on a *sql.DB
// of its own and the plugin, and migrates models (and the key table) with
// gormplugin.AutoMigrate.
func newEnv(t testing.TB, d dialect, o envOptions, models ...any) *env {
	t.Helper()
	dsn := d.dsn(t)
	db, err := gorm.Open(d.gorm(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("gorm.Open(%s): %v", d.name, err)
	}
	raw, err := db.DB()
	if err != nil {
		t.Fatalf("db.DB(): %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	kek := o.kek
	if kek == nil {
		kek = localKeeper(t)
	}
	keyDB := d.keyDB(t, dsn)
	keys, err := keystore.New(keyDB, kek, o.keyOpts...)
	if err != nil {
		t.Fatalf("keystore.New: %v", err)
	}
	t.Cleanup(keys.Close)
	e := &env{dialect: d.name, db: db, raw: raw, keyDB: keyDB, keys: keys, enc: field.NewEncryptor(keys, o.encOpts...)}
	if o.noUse {
		return e
	}
	if err := db.Use(gormplugin.New(e.enc, o.plugOps...)); err != nil {
		t.Fatalf("db.Use(gormplugin.New(enc)): %v", err)
	}
	if err := gormplugin.AutoMigrate(db, models...); err != nil {
		t.Fatalf("gormplugin.AutoMigrate: %v", err)
	}
	return e
}

// fresh empties base's tables (the key table too) and returns an env over
// the same database with a new key store, encryptor and *gorm.DB: a clean
// database for one case without migrating again.
func (base *env) fresh(t testing.TB, d dialect, tables ...string) *env {
	t.Helper()
	for _, q := range d.truncate(append(tables, sqldialect.DefaultKeyTable, sqldialect.DefaultKeyTable+"_index_keys")...) {
		base.exec(t, q)
	}
	db, err := gorm.Open(d.reuse(base.raw), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("gorm.Open(%s): %v", d.name, err)
	}
	keys, err := keystore.New(base.keyDB, localKeeper(t))
	if err != nil {
		t.Fatalf("keystore.New: %v", err)
	}
	t.Cleanup(keys.Close)
	e := &env{dialect: d.name, db: db, raw: base.raw, keyDB: base.keyDB, keys: keys, enc: field.NewEncryptor(keys)}
	if err := db.Use(gormplugin.New(e.enc)); err != nil {
		t.Fatalf("db.Use(gormplugin.New(enc)): %v", err)
	}
	return e
}

// localKeeper returns a local master key written to t's temp dir.
func localKeeper(t testing.TB) *kms.Keeper {
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

// forEachDialect runs f as a subtest per dialect, in parallel.
func forEachDialect(t *testing.T, f func(t *testing.T, d dialect)) {
	t.Helper()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

// rawBytes reads one column of one row as the bytes the database holds.
func (e *env) rawBytes(t testing.TB, table, column string, id uint) []byte {
	t.Helper()
	var b []byte
	q := "SELECT " + column + " FROM " + table + " WHERE id = " + placeholder(e.dialect, 1)
	if err := e.raw.QueryRow(q, id).Scan(&b); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return b
}

func (e *env) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := e.raw.Exec(q, args...); err != nil {
		t.Fatalf("Exec(%q): %v", q, err)
	}
}

func placeholder(dialect string, n int) string {
	if dialect == "postgres" {
		return "$" + string(rune('0'+n))
	}
	return "?"
}

func (e *env) ph(n int) string { return placeholder(e.dialect, n) }

func ctxFor(tenant string) context.Context {
	return field.WithTenant(context.Background(), tenant)
}

var day = time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }
