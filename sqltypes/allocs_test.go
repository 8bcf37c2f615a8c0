package sqltypes_test

import (
	"context"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/sqltypes"
)

// Allocation counts are deterministic, so the read path's are pinned
// here; its timings are BENCHMARKS.md's business, never a test's.

// scanAllocs seals v for column col of a fresh Column[T] and returns the
// allocations one Scan and one ScanBytes of the stored value make, with
// the Scanner built once and reused, as a loop over rows may. It also
// checks that Column.Open allocates what Scan does.
func scanAllocs[T any](t *testing.T, e *sqliteEnv, col string, v T, opts ...sqltypes.Option) (scan, scanBytes float64) {
	t.Helper()
	ctx := context.Background()
	c := sqltypes.NewColumn[T](e.enc, "p", col, opts...)
	stored, err := c.Seal(ctx, "acme", v)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	var dst T
	sc := c.Scan(ctx, "acme", &dst)
	bs, ok := sc.(interface{ ScanBytes([]byte) error })
	if !ok {
		t.Fatalf("Scan's Scanner is no pgtype.BytesScanner")
	}
	var src any = stored // boxed once, as database/sql holds it
	scan = testing.AllocsPerRun(200, func() {
		if err := sc.Scan(src); err != nil {
			t.Fatalf("Scan: %v", err)
		}
	})
	scanBytes = testing.AllocsPerRun(200, func() {
		if err := bs.ScanBytes(stored); err != nil {
			t.Fatalf("ScanBytes: %v", err)
		}
	})
	if !equal(dst, v) {
		t.Fatalf("Scan stored %v, want %v", dst, v)
	}
	open := testing.AllocsPerRun(200, func() {
		if _, err := c.Open(ctx, "acme", stored); err != nil {
			t.Fatalf("Open: %v", err)
		}
	})
	if open != scan {
		t.Errorf("Column.Open allocs = %v, want Scan's %v", open, scan)
	}
	return scan, scanBytes
}

// TestScanAllocs pins what one value costs the Scanner beyond the open
// itself: only the plaintext the destination keeps. A string is built
// once from a pooled buffer, a []byte is the slice the AEAD opened into,
// a number allocates nothing, and ScanBytes (pgx's path) boxes nothing.
func TestScanAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race")
	}
	e := newSQLite(t)
	when := time.Date(2026, 12, 6, 5, 0, 0, 123, time.UTC)
	name := "given.family.0000000042@example.com.test"
	tests := []struct {
		name string
		run  func(t *testing.T) (float64, float64)
		want float64
	}{
		{"string", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "s", name) }, 1},
		{"string/armored", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "sa", name, sqltypes.WithTag("armor")) }, 2}, // and the dearmored bytes
		{"bytes", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "b", []byte(name)) }, 1},
		{"*string", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "ps", &name) }, 2}, // the string and its pointee
		{"int64", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "i", int64(-1234567890123)) }, 0},
		{"int", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "n", 42) }, 0},
		{"bool", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "t", true) }, 0},
		{"float64", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "f", 3.25) }, 0},
		{"time", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "w", when) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scan, scanBytes := tt.run(t)
			if scan != tt.want {
				t.Errorf("Scan allocs = %v, want %v", scan, tt.want)
			}
			if scanBytes != tt.want {
				t.Errorf("ScanBytes allocs = %v, want %v", scanBytes, tt.want)
			}
		})
	}
}

// TestSelectAllocs reads rows of two encrypted string columns from
// Postgres, through database/sql (pgx's stdlib driver) and through native
// pgx, and holds the allocations per row to at most those of the same
// rows in plaintext text columns plus 2: one per value, the string the
// row keeps being built from the plaintext rather than handed over by
// the driver. The Scanners are built once for the query and reused.
func TestSelectAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race")
	}
	pg := newPG(t)
	ctx := context.Background()
	const rows = 200
	mustExec(t, pg.db, `CREATE TABLE al_plain (id bigint, a text, b text)`)
	mustExec(t, pg.db, `CREATE TABLE al_enc (id bigint, a bytea, b bytea)`)
	colA := sqltypes.NewColumn[string](pg.enc, "al_enc", "a")
	colB := sqltypes.NewColumn[string](pg.enc, "al_enc", "b")
	for i := range rows {
		a, b := vsValue(i, "a"), vsValue(i, "b")
		mustExec(t, pg.db, `INSERT INTO al_plain VALUES ($1, $2, $3)`, i, a, b)
		mustExec(t, pg.db, `INSERT INTO al_enc VALUES ($1, $2, $3)`, i, colA.Value(ctx, "acme", a), colB.Value(ctx, "acme", b))
	}
	var id int64
	var a, b string
	plain := []any{&id, &a, &b}
	enc := []any{&id, colA.Scan(ctx, "acme", &a), colB.Scan(ctx, "acme", &b)}

	stdlib := func(table string, dst []any) func() error {
		return func() error {
			rs, err := pg.db.QueryContext(ctx, "SELECT id, a, b FROM "+table+" ORDER BY id")
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				if err := rs.Scan(dst...); err != nil {
					return err
				}
			}
			return rs.Err()
		}
	}
	native := func(table string, dst []any) func() error {
		return func() error {
			rs, err := pg.pool.Query(ctx, "SELECT id, a, b FROM "+table+" ORDER BY id")
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				if err := rs.Scan(dst...); err != nil {
					return err
				}
			}
			return rs.Err()
		}
	}
	perQuery := func(f func() error) float64 {
		var ferr error
		n := testing.AllocsPerRun(5, func() {
			if err := f(); err != nil {
				ferr = err
			}
		})
		if ferr != nil {
			t.Fatal(ferr)
		}
		return n
	}
	for _, tt := range []struct {
		name       string
		plain, enc func() error
	}{
		{"database/sql", stdlib("al_plain", plain), stdlib("al_enc", enc)},
		{"pgx", native("al_plain", plain), native("al_enc", enc)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, e := perQuery(tt.plain), perQuery(tt.enc)
			// Per-query allocations (the statement, the column
			// descriptions) differ a little between the two tables: a
			// slack of 20 a query, a tenth of an allocation a row.
			if e > p+2*rows+20 {
				t.Errorf("SELECT of %d rows: %v allocations encrypted, %v plaintext; want at most plaintext + 2 a row (+20)", rows, e, p)
			}
			if a != vsValue(rows-1, "a") || b != vsValue(rows-1, "b") {
				t.Errorf("last row read = %q, %q", a, b)
			}
			t.Logf("%s: %.2f allocations a row encrypted, %.2f plaintext", tt.name, e/rows, p/rows)
		})
	}
}
