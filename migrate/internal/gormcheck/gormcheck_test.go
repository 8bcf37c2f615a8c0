package gormcheck

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/migrate"
	"github.com/colcrypt/colcrypt/testhelpers"
)

func TestMain(m *testing.M) { testhelpers.Main(m) }

// Applicant is the application's model of the migrated table: SSN and
// zip encrypted, and two named indexes over them.
type Applicant struct {
	ID       int64  `gorm:"primaryKey;autoIncrement:false"`
	TenantID string `gorm:"column:tenant" colcrypt:"tenant"`
	SSN      string `gorm:"column:ssn;serializer:colcrypt" colcrypt:"armor"`
	Zip      string `gorm:"column:zip;serializer:colcrypt" colcrypt:"armor"`
	SSNZip   []byte `gorm:"column:ssn_zip" colcrypt:"index:ssn_zip,parts:SSN/digits/last4+Zip/trim,bits:32"`
	Last4    []byte `gorm:"column:last4_idx" colcrypt:"index:ssn_last4,parts:SSN/digits/last4,bits:24"`
}

func (Applicant) TableName() string { return "applicants" }

type dialect struct {
	name   string
	dsn    func(t testing.TB) string
	gorm   func(*sql.DB) gorm.Dialector
	driver string
	// text, bytes and key are the column types of the table.
	text, bytes, key string
}

var dialects = []dialect{
	{"postgres", func(t testing.TB) string { return testhelpers.Postgres(t) },
		func(db *sql.DB) gorm.Dialector { return postgres.New(postgres.Config{Conn: db}) }, "pgx", "text", "bytea", "bigint"},
	{"sqlite", func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "test.db") + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"
	}, func(db *sql.DB) gorm.Dialector { return &sqlite.Dialector{Conn: db} }, sqlite.DriverName, "TEXT", "BLOB", "INTEGER"},
	{"mysql", func(t testing.TB) string { return testhelpers.MySQL(t) },
		func(db *sql.DB) gorm.Dialector {
			return mysql.New(mysql.Config{Conn: db, SkipInitializeWithVersion: true})
		}, "mysql", "VARCHAR(255)", "VARBINARY(32)", "BIGINT"},
}

// row i's plaintexts: two tenants, SSNs sharing their last four digits
// every 10 rows, zips with spaces around them, one NULL zip.
func ssnOf(i int64) string { return fmt.Sprintf("%03d-%02d-%04d", 100+i, i%90, 1000+i%10) }
func zipOf(i int64) sql.NullString {
	if i == 5 {
		return sql.NullString{}
	}
	return sql.NullString{String: fmt.Sprintf(" 9411%d ", i%3), Valid: true}
}
func tenantOf(i int64) string { return []string{"acme", "globex"}[i%2] }

// TestMigratedIndexesMatchGORM encrypts two columns of a plaintext table
// with a compound index, lets a GORM model tagged with the same index
// find the rows, writes a row through GORM, adds a second index with an
// index job (which must find GORM's row already right), and finds rows
// by it.
func TestMigratedIndexesMatchGORM(t *testing.T) {
	const n = 60
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := d.dsn(t)
			raw := open(t, d.driver, dsn)
			keyDB := open(t, d.driver, dsn)
			path := filepath.Join(t.TempDir(), "master.keys")
			if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
				t.Fatal(err)
			}
			kek, err := kms.Open(ctx, "local://"+path+"?id=k1")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { kek.Close() })
			if err := keystore.CreateTable(ctx, keyDB, keystore.WithDialect(d.name)); err != nil {
				t.Fatal(err)
			}
			keys, err := keystore.New(keyDB, kek, keystore.WithDialect(d.name))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(keys.Close)
			enc := field.NewEncryptor(keys)

			exec(t, raw, fmt.Sprintf("CREATE TABLE applicants (id %s PRIMARY KEY, tenant %s, ssn %s, zip %s, ssn_zip %s, last4_idx %s)",
				d.key, d.text, d.text, d.text, d.bytes, d.bytes))
			ph := func(i int) string {
				if d.name == "postgres" {
					return fmt.Sprintf("$%d", i)
				}
				return "?"
			}
			for i := int64(1); i <= n; i++ {
				exec(t, raw, "INSERT INTO applicants (id, tenant, ssn, zip) VALUES ("+ph(1)+", "+ph(2)+", "+ph(3)+", "+ph(4)+")", i, tenantOf(i), ssnOf(i), zipOf(i))
			}

			m, err := migrate.New(raw, enc, migrate.WithDialect(d.name))
			if err != nil {
				t.Fatal(err)
			}
			ssnZip, err := migrate.NewJobIndex("ssn_zip", "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32")
			if err != nil {
				t.Fatal(err)
			}
			job := migrate.Job{Kind: migrate.Encrypt, Table: "applicants", Column: "ssn", Also: []migrate.ColumnPair{{Column: "zip"}},
				TenantColumn: "tenant", Indexes: []migrate.JobIndex{ssnZip}}
			if res, err := m.Run(ctx, job, migrate.RunOptions{BatchSize: 25}); err != nil || res.Failed != 0 {
				t.Fatalf("encrypt = %+v, %v", res, err)
			}
			testhelpers.AssertNoPlaintext(t, raw, "applicants", "ssn", ssnOf(7))

			db, err := gorm.Open(d.gorm(raw), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Use(gormplugin.New(enc)); err != nil {
				t.Fatal(err)
			}
			// find returns the ids of tenant's rows the named index
			// matches, each checked against its decrypted fields.
			find := func(tenant, index string, values ...any) []int64 {
				t.Helper()
				tctx := field.WithTenant(ctx, tenant)
				var as []Applicant
				if err := db.WithContext(tctx).Scopes(gormplugin.Match(tctx, index, values...)).Order("id").Find(&as).Error; err != nil {
					t.Fatalf("Match(%s, %v) = %v", index, values, err)
				}
				var ids []int64
				for _, a := range as {
					if a.SSN != ssnOf(a.ID) && a.ID <= n {
						t.Errorf("row %d decrypts to SSN %q, want %q", a.ID, a.SSN, ssnOf(a.ID))
					}
					ids = append(ids, a.ID)
				}
				return ids
			}
			// want lists the generated rows of tenant whose SSN ends in
			// last4 and, if zip is not empty, whose trimmed zip is zip.
			want := func(tenant, last4, zip string) []int64 {
				var ids []int64
				for i := int64(1); i <= n; i++ {
					z := zipOf(i)
					if tenantOf(i) == tenant && strings.HasSuffix(ssnOf(i), last4) && (zip == "" || (z.Valid && strings.TrimSpace(z.String) == zip)) {
						ids = append(ids, i)
					}
				}
				return ids
			}
			for _, tc := range []struct{ tenant, last4, zip string }{{"acme", "1004", "94110"}, {"globex", "1007", "94112"}, {"globex", "1005", "94112"}} {
				got := find(tc.tenant, "ssn_zip", "999-99-"+tc.last4, "  "+tc.zip)
				if w := want(tc.tenant, tc.last4, tc.zip); len(w) == 0 || !slices.Equal(got, w) {
					t.Errorf("Match(ssn_zip, %s, %s) for %s = %v, want %v", tc.last4, tc.zip, tc.tenant, got, w)
				}
			}

			// A row written by the application, indexes and all.
			app := Applicant{ID: 1000, TenantID: "acme", SSN: "555-55-1004", Zip: "94110"}
			if err := db.WithContext(field.WithTenant(ctx, "acme")).Create(&app).Error; err != nil {
				t.Fatal(err)
			}
			// The second index, added to the encrypted columns later.
			last4, err := migrate.NewJobIndex("last4_idx", "index:ssn_last4,parts:ssn/digits/last4,bits:24")
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Run(ctx, migrate.Job{Kind: migrate.Index, Table: "applicants", Column: "ssn", Also: []migrate.ColumnPair{{Column: "zip"}},
				TenantColumn: "tenant", Indexes: []migrate.JobIndex{last4}}, migrate.RunOptions{BatchSize: 25})
			if err != nil || res.Updated != n || res.Skipped != 1 {
				t.Fatalf("index job = %+v, %v; want %d updated and the application's row skipped (its index is already right)", res, err, n)
			}
			got := find("acme", "ssn_last4", "1004")
			if w := append(want("acme", "1004", ""), 1000); !slices.Equal(got, w) {
				t.Errorf("Match(ssn_last4, 1004) = %v, want %v", got, w)
			}
			if got := find("acme", "ssn_zip", "1004", "94110"); !slices.Contains(got, 1000) {
				t.Errorf("Match(ssn_zip) = %v, want the application's row 1000 among them", got)
			}
			rep, err := m.Verify(ctx, migrate.Job{Table: "applicants", Column: "ssn", Also: []migrate.ColumnPair{{Column: "zip"}},
				TenantColumn: "tenant", Indexes: []migrate.JobIndex{ssnZip, last4}}, migrate.RunOptions{})
			if err != nil || rep.IndexMismatch != 0 || rep.Encrypted != n+1 {
				t.Fatalf("Verify = %+v, %v", rep, err)
			}
		})
	}
}

func open(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
