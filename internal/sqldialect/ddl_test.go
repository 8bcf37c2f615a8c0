package sqldialect_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/testhelpers"
)

func TestMain(m *testing.M) { testhelpers.Main(m) }

// openAll opens a fresh database of every dialect. Postgres and MySQL come
// from the test environment (skipped without one, failing under CI).
func openAll(t *testing.T) map[sqldialect.Dialect]*sql.DB {
	open := func(driver, dsn string) *sql.DB {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	return map[sqldialect.Dialect]*sql.DB{
		sqldialect.SQLite:   open("sqlite", "file:"+t.TempDir()+"/d.db?_pragma=busy_timeout(10000)"),
		sqldialect.Postgres: open("pgx", testhelpers.Postgres(t)),
		sqldialect.MySQL:    open("mysql", testhelpers.MySQL(t)),
	}
}

// TestStatementsRun: every table's DDL runs (twice: IF NOT EXISTS) on each
// real database, the catalog reads see what it made, and the later
// checkpoint columns can be added to a table without them.
func TestStatementsRun(t *testing.T) {
	ctx := context.Background()
	for d, db := range openAll(t) {
		t.Run(d.String(), func(t *testing.T) {
			if got, err := sqldialect.Detect(db); err != nil || got != d {
				t.Fatalf("Detect() = %v, %v; want %v", got, err, d)
			}
			const keys, ckpt = "sqld_keys", "sqld_ckpt"
			for range 2 {
				stmts := append(d.KeyTableDDL(keys), d.EventsDDL(keys))
				stmts = append(stmts, d.UpgradeDDL(keys)...)
				stmts = append(stmts, d.CheckpointDDL(ckpt)...)
				if l := d.DDLLock(keys); l != "" {
					stmts = append([]string{l}, stmts...)
				}
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range stmts {
					if _, err := tx.ExecContext(ctx, s); err != nil {
						t.Fatalf("Exec(%.60s…) = %v", s, err)
					}
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			cols, pk, exists, err := d.Describe(ctx, db, keys)
			if err != nil || !exists || len(cols) < len(sqldialect.KeyTableColumns) || fmt.Sprint(pk) != "[tenant_id version]" {
				t.Fatalf("Describe(%s) = %v, %v, %v, %v", keys, cols, pk, exists, err)
			}
			if _, _, exists, err := d.Describe(ctx, db, "sqld_none"); err != nil || exists {
				t.Errorf("Describe(missing table) = exists %v, %v", exists, err)
			}
			info := d.ServerInfo()
			var version string
			if err := db.QueryRowContext(ctx, info.Version).Scan(&version); err != nil || version == "" {
				t.Errorf("ServerInfo().Version = %q, %v", version, err)
			}
			var idx []string
			rows, err := db.QueryContext(ctx, info.Indexes, keys)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n string
				rows.Scan(&n)
				idx = append(idx, n)
			}
			rows.Close()
			if fmt.Sprint(idx) == "[]" || !contains(idx, keys+sqldialect.ActiveIndexSuffix) {
				t.Errorf("indexes of %s = %v, want %s%s among them", keys, idx, keys, sqldialect.ActiveIndexSuffix)
			}
			for _, c := range sqldialect.LaterCheckpointColumns {
				if d.HasColumn(ctx, db, ckpt, c.Name) {
					t.Fatalf("HasColumn(%s) before it was added = true", c.Name)
				}
				if _, err := db.ExecContext(ctx, "ALTER TABLE "+d.QuoteTable(ckpt)+" ADD COLUMN "+d.Quote(c.Name)+" "+c.Def(d)); err != nil {
					t.Fatalf("add %s: %v", c.Name, err)
				}
				if !d.HasColumn(ctx, db, ckpt, c.Name) {
					t.Errorf("HasColumn(%s) after it was added = false", c.Name)
				}
			}
			for _, tbl := range []string{sqldialect.EventsTable(keys), sqldialect.WrapsTable(keys), sqldialect.SchemaTable(keys), sqldialect.TenantKEKTable(keys), keys, ckpt} {
				db.ExecContext(ctx, "DROP TABLE "+d.QuoteTable(tbl))
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
