package fieldcore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/field/fieldtest"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// BenchmarkIndexVsBlindIndex interleaves, in alternating batches within
// one benchmark, a field's single blind index of an SSN (normalize:digits)
// and a compound index of its last four digits and a zip code
// (SSN/digits/last4+Zip/trim, 32 bits), both through a warm column
// handle, and reports the ratio of their fastest batches
// (compound/single): what the parts' encoding and transforms add to the
// one HMAC both take.
//
//	go test -run='^$' -bench=IndexVsBlindIndex -benchmem -count=6 ./internal/fieldcore/
func BenchmarkIndexVsBlindIndex(b *testing.B) {
	ctx := context.Background()
	keys, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		b.Fatal(err)
	}
	e := fieldcore.New(keys, fieldcore.Config{})
	bi, err := fieldcore.NewBlindIndex("ssn_bidx", 16, "digits")
	if err != nil {
		b.Fatal(err)
	}
	ix, err := fieldcore.NewIndex("ssn_zip", 32,
		fieldcore.IndexPart{Source: "SSN", Transforms: []string{"digits", "last4"}},
		fieldcore.IndexPart{Source: "Zip", Transforms: []string{"trim"}})
	if err != nil {
		b.Fatal(err)
	}
	hb, err := e.Handle(ctx, fieldcore.Scope{Tenant: "acme", Table: "patients", Column: "ssn"})
	if err != nil {
		b.Fatal(err)
	}
	hx, err := e.Handle(ctx, ix.Scope("acme", "patients"))
	if err != nil {
		b.Fatal(err)
	}
	ssn, zip := []byte("123-45-6789"), []byte(" 94110")
	values := [][]byte{ssn, zip}
	single := func() {
		if _, err := hb.BlindIndex(ctx, bi, ssn); err != nil {
			b.Fatal(err)
		}
	}
	compound := func() {
		if _, err := hx.Index(ctx, ix, values); err != nil {
			b.Fatal(err)
		}
	}
	single()
	compound() // both keys warm

	const batch = 256
	best := [2]time.Duration{1<<63 - 1, 1<<63 - 1}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		for k, f := range []func(){single, compound} {
			start := time.Now()
			for range batch {
				f()
			}
			if d := time.Since(start); d < best[k] {
				best[k] = d
			}
		}
		done += 2 * batch
	}
	b.StopTimer()
	b.ReportMetric(float64(best[0].Nanoseconds())/batch, "single-ns/op")
	b.ReportMetric(float64(best[1].Nanoseconds())/batch, "compound-ns/op")
	b.ReportMetric(float64(best[1])/float64(best[0]), "compound/single")
}
