package faulttest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestKMSThrottling answers every second KMS call with RESOURCE_EXHAUSTED
// (the fake's failures are deterministic: of n calls, n/2 rounded down
// fail) while 8 workers create the rows of 40 tenants, which wraps each
// tenant's key, and then 8 workers of a second process read them back,
// which unwraps each key.
//
// Every operation succeeds, and the calls the fake received add up
// exactly: each is an attempt the key store counted (Stats counts every
// attempt, so calls = KMSWraps + KMSUnwraps, not + KMSRetries on top),
// each failure was retried, the first attempts are one wrap per tenant
// and about one unwrap per tenant (the cache and single flight work under
// throttling), and the retries stay within the budget of (maxAttempts-1)
// per miss.
func TestKMSThrottling(t *testing.T) {
	const (
		workers = 8
		tenants = 40
		slots   = 3
		// With half the calls failing, an operation exhausts its attempts
		// only if all land on failing slots; 16 makes that vanishingly
		// rare even under unlucky interleaving.
		maxAttempts = 16
		opTimeout   = 30 * time.Second
	)
	srv, kek := startKMS(t)
	dsn := testhelpers.Postgres(t)
	retry := keystore.WithTuning(keystore.Tuning{KMSAttempts: maxAttempts, KMSRetryBase: time.Millisecond, KMSRetryMax: 20 * time.Millisecond})

	dbA, rawA := openGORM(t, dsn)
	keysA := newStore(t, openKeyDB(t, dsn), kek, retry)
	usePlugin(t, dbA, keysA)
	migrate(t, dbA)

	dbB, _ := openGORM(t, dsn)
	keysB := newStore(t, openKeyDB(t, dsn), kek, retry)
	usePlugin(t, dbB, keysB)

	enc0, dec0 := srv.Calls()
	srv.SetFaults(insecurefakekms.Faults{FailureRate: 0.5, FailureRateCode: codes.ResourceExhausted})

	type row struct {
		tenant string
		id     uint
	}
	var (
		mu   sync.Mutex
		rows []row
		bad  failures
	)
	// forEach runs f for every (tenant, slot) on workers goroutines, the
	// slots of one tenant on different goroutines, so that they miss the
	// cache together.
	forEach := func(f func(tenant, ref string)) {
		work := make(chan [2]string)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for w := range work {
					f(w[0], w[1])
				}
			})
		}
		for i := range tenants {
			for s := range slots {
				work <- [2]string{fmt.Sprintf("throttled-%02d", i), fmt.Sprintf("throttled-%02d-s%d", i, s)}
			}
		}
		close(work)
		wg.Wait()
	}

	forEach(func(tenant, ref string) {
		ctx, cancel := context.WithTimeout(ctxFor(tenant), opTimeout)
		defer cancel()
		rec := newRecord(tenant, ref, 1)
		if err := dbA.WithContext(ctx).Create(rec).Error; err != nil {
			bad.add("Create(%s) err = %v, want nil", ref, err)
			return
		}
		mu.Lock()
		rows = append(rows, row{tenant, rec.ID})
		mu.Unlock()
	})
	forEach(func(tenant, ref string) {
		ctx, cancel := context.WithTimeout(ctxFor(tenant), opTimeout)
		defer cancel()
		var got record
		if err := dbB.WithContext(ctx).Where("ref = ?", ref).First(&got).Error; err != nil {
			bad.add("second process: First(ref %s) err = %v, want nil", ref, err)
			return
		}
		if got.TenantID != tenant || got.Rev != 1 {
			bad.add("second process: First(ref %s) = rev %d of %q, want rev 1 of %q", ref, got.Rev, got.TenantID, tenant)
		}
		if err := got.check(); err != nil {
			bad.add("second process: %v", err)
		}
	})
	srv.SetFaults(insecurefakekms.Faults{})
	bad.report(t, "operations failed under throttling")

	a, b := keysA.Stats(), keysB.Stats()
	enc, dec := srv.Calls()
	enc, dec = enc-enc0, dec-dec0
	calls := uint64(enc + dec)
	t.Logf("fake KMS: %d Encrypt, %d Decrypt calls; store A %+v; store B %+v", enc, dec, a, b)

	sum := func(f func(keystore.Stats) uint64) uint64 { return f(a) + f(b) }
	wraps := sum(func(s keystore.Stats) uint64 { return s.KMSWraps })
	unwraps := sum(func(s keystore.Stats) uint64 { return s.KMSUnwraps })
	errs := sum(func(s keystore.Stats) uint64 { return s.KMSErrors })
	retries := sum(func(s keystore.Stats) uint64 { return s.KMSRetries })

	if uint64(enc) != wraps || uint64(dec) != unwraps {
		t.Errorf("fake calls = %d Encrypt, %d Decrypt; Stats = %d wraps, %d unwraps; want equal (one RPC per counted attempt)", enc, dec, wraps, unwraps)
	}
	if errs != calls/2 {
		t.Errorf("Stats KMSErrors = %d, want %d (every second of %d calls failed)", errs, calls/2, calls)
	}
	if retries != errs {
		t.Errorf("Stats KMSRetries = %d, KMSErrors = %d, want equal (every throttled call retried, none given up)", retries, errs)
	}
	// The first attempts: one wrap per tenant in A, however many rows and
	// workers. B unwraps once per tenant too, except that a read that
	// missed the cache just as another read's load finished starts a load
	// of its own (the key store's version load does not look at the cache
	// again); so B is bounded by its misses.
	// Each tenant gets a data key and an index key (the model has a
	// blind index); plus the chain key of each key table's audit trail.
	if first := a.KMSWraps - a.KMSRetries; first != 2*tenants+2 {
		t.Errorf("store A wraps (attempts %d - retries %d) = %d, want %d: a data key and an index key per tenant and two audit chain keys", a.KMSWraps, a.KMSRetries, first, 2*tenants+2)
	}
	if first := b.KMSUnwraps - b.KMSRetries; first < tenants || first > b.Misses {
		t.Errorf("store B unwraps (attempts %d - retries %d) = %d, want between %d (one per tenant) and %d (misses)",
			b.KMSUnwraps, b.KMSRetries, first, tenants, b.Misses)
	}
	if a.KMSUnwraps != 0 || b.KMSWraps != 0 {
		t.Errorf("store A unwraps = %d, store B wraps = %d, want 0, 0", a.KMSUnwraps, b.KMSWraps)
	}
	for name, s := range map[string]keystore.Stats{"A": a, "B": b} {
		if budget := (maxAttempts - 1) * s.Misses; s.KMSRetries > budget {
			t.Errorf("store %s KMSRetries = %d, want ≤ (maxAttempts-1) × misses = %d", name, s.KMSRetries, budget)
		}
	}
	if retries == 0 {
		t.Errorf("Stats KMSRetries = 0, want > 0: the throttling was not felt")
	}

	// Nothing half-done: one key per tenant, every row in place.
	var keyRows int
	if err := rawA.QueryRow("SELECT count(*) FROM " + sqldialect.DefaultKeyTable).Scan(&keyRows); err != nil {
		t.Fatalf("count keys: %v", err)
	}
	if keyRows != tenants || len(rows) != tenants*slots {
		t.Errorf("key rows = %d, records = %d, want %d, %d", keyRows, len(rows), tenants, tenants*slots)
	}
}
