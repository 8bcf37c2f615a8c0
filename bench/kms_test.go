package main

import (
	"context"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestContenders runs every contender for a short round against the fake
// Cloud KMS and checks what the table reports about it: that it sealed
// values that open again, and how many KMS calls it made per value.
func TestContenders(t *testing.T) {
	ctx := context.Background()
	const tenants = 5
	e, err := newKMSEnv(ctx, tenants)
	if err != nil {
		t.Fatalf("newKMSEnv = %v", err)
	}
	defer e.close()
	e.srv.SetFaults(insecurefakekms.Faults{Latency: time.Millisecond, LenientChecksums: true})

	// KMS calls per value: none once colcrypt's cache is warm; one per
	// value for Tink (wrap a fresh DEK) and gocloud (the value itself);
	// one per tenant for a cold colcrypt (unwrap), whose every phase is one
	// value per tenant.
	wantCallsPerValue := map[string]float64{
		nameColcryptWarm: 0,
		nameColcryptCold: 1,
		nameTink:         1,
		nameGocloud:      1,
		nameAESGCM:       0,
	}
	pt := printable(64)
	for _, b := range builders {
		t.Run(b.name, func(t *testing.T) {
			c, err := b.make(ctx, e)
			if err != nil {
				t.Fatalf("make = %v", err)
			}
			defer c.close()
			if err := checkContender(ctx, c, pt, tenants); err != nil {
				t.Fatalf("checkContender = %v", err)
			}
			calls0 := e.kmsCalls()
			res, err := runRound(ctx, c, pt, tenants, 3, 100*time.Millisecond)
			if err != nil {
				t.Fatalf("runRound = %v", err)
			}
			calls := e.kmsCalls() - calls0
			if res.values == 0 || res.elapsed <= 0 {
				t.Fatalf("runRound = %d values in %v, want some", res.values, res.elapsed)
			}
			if got, want := float64(calls)/float64(res.values), wantCallsPerValue[c.name]; got != want {
				t.Errorf("KMS calls per value = %d/%d = %v, want %v", calls, res.values, got, want)
			}
			if len(res.samples) == 0 {
				t.Errorf("runRound recorded no latency samples")
			}
			if res.mallocs == 0 {
				t.Errorf("runRound counted no allocations; every contender allocates its output")
			}
		})
	}
}
