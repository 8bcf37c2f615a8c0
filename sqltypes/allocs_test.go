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
// the Scanner built once and reused, as a loop over rows may.
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
	return scan, scanBytes
}

// TestScanAllocs pins what one value costs the Scanner beyond the open
// itself: only the plaintext the destination keeps. A string is built
// once from a pooled buffer, a []byte is the slice the AEAD opened into,
// a number allocates nothing, and ScanBytes (pgx's path) boxes nothing.
func TestScanAllocs(t *testing.T) {
	e := newSQLite(t)
	when := time.Date(2026, 12, 6, 5, 0, 0, 123, time.UTC)
	name := "given.family.0000000042@example.com.test"
	tests := []struct {
		name string
		run  func(t *testing.T) (float64, float64)
		want float64
	}{
		{"string", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "s", name) }, 1},
		{"string/armored", func(t *testing.T) (float64, float64) { return scanAllocs(t, e, "sa", name, sqltypes.Armor()) }, 2}, // and the dearmored bytes
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
