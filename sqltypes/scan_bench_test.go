package sqltypes_test

import (
	"context"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/handscoped"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// BenchmarkScanValue is one value of BenchmarkSQLVsHandwritten's SELECT
// without the database: the Scan of a stored ~40-byte string, handed over
// as database/sql does (a []byte boxed once), by the hand-written
// baseline, the baseline doing colcrypt's per-value work
// (internal/handscoped) and colcrypt's Scanner, built once and reused as
// a loop over rows may, or built for every row. Each run times the four
// in turn; run it several times and take medians:
//
//	go test -run='^$' -bench='^BenchmarkScanValue$' -benchtime=1000000x -count=1 ./sqltypes/
func BenchmarkScanValue(b *testing.B) {
	e := newSQLite(b)
	ctx := context.Background()
	const tenant = "acme"
	v := vsValue(42, "a")
	col := sqltypes.NewColumn[string](e.enc, "vs_enc", "a")
	stored, err := col.Seal(ctx, tenant, v)
	if err != nil {
		b.Fatal(err)
	}
	hand := newHandGCM(b)
	scoped := handscoped.New(stored, field.TenantFromContext)
	scope := handscoped.Scope{Tenant: tenant, Table: "vs_enc", Column: "a"}
	handStored, _ := handValue{hand, v}.Value()
	scopedStored, err := scoped.Seal(ctx, scope, []byte(v))
	if err != nil {
		b.Fatal(err)
	}
	var dst string
	run := func(b *testing.B, src any, scan func(any) error) {
		b.ReportAllocs()
		c0 := processCPU(0)
		for b.Loop() {
			if err := scan(src); err != nil {
				b.Fatal(err)
			}
		}
		// CPU time, which a loaded machine moves less than wall time.
		b.ReportMetric(float64(processCPU(0)-c0)/float64(b.N), "cpu-ns/op")
		if dst != v {
			b.Fatalf("scanned %q, want %q", dst, v)
		}
	}
	b.Run("handwritten", func(b *testing.B) {
		run(b, handStored, (&handString{hand, &dst}).Scan)
	})
	b.Run("handscoped", func(b *testing.B) {
		run(b, scopedStored, (&handScopedString{scoped, ctx, scope, &dst}).Scan)
	})
	b.Run("colcrypt", func(b *testing.B) {
		run(b, stored, col.Scan(ctx, tenant, &dst).Scan)
	})
	b.Run("colcrypt-per-row", func(b *testing.B) {
		run(b, stored, func(src any) error { return col.Scan(ctx, tenant, &dst).Scan(src) })
	})
}
