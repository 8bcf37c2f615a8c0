package faulttest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// TestCachePressure runs 64 goroutines over 1,000 tenants with a key
// cache bounded to 100 keys, so most lookups miss, evict and unwrap
// again, while tenants are read and rewritten concurrently. Run it with
// -race: the cache's eviction, the single flight and the key zeroing run
// under contention here.
//
// Every value read is a revision its tenant's row had (and, after the
// load, exactly the last); the KMS wrapped each tenant's key once and
// unwrapped at most once per cache miss; the cache stayed within its
// bound and evicted. Eviction is checked from outside as far as the API
// allows: an evicted key asked for again is unwrapped again; the zeroing
// of its bytes is keystore's white-box tests' business, as no exported
// API reaches them.
func TestCachePressure(t *testing.T) {
	const (
		goroutines = 64
		tenants    = 1000
		cacheSize  = 100
		opsEach    = 25
		opTimeout  = 30 * time.Second
	)
	if !raceEnabled {
		t.Log("not built with -race: the concurrency is exercised but data races go undetected")
	}
	srv, kek := startKMS(t)
	dsn := testhelpers.Postgres(t)
	// Bounded pools, as in production; the key store gets its own (see
	// openKeyDB).
	db, raw := openGORM(t, dsn)
	raw.SetMaxOpenConns(32)
	keyDB := openKeyDB(t, dsn)
	keyDB.SetMaxOpenConns(16)
	keys := newStore(t, keyDB, kek, keystore.WithTuning(keystore.Tuning{CacheMaxKeys: cacheSize}))
	usePlugin(t, db, keys)
	migrate(t, db)

	// The canary: a key the test holds, never used again, so the load
	// evicts it.
	canary, err := keys.ActiveCipher(context.Background(), "canary", "records", "name")
	if err != nil {
		t.Fatalf("ActiveCipher(canary) err = %v, want nil", err)
	}

	// Each tenant has one row. committed is the revision last committed;
	// a writer holds the tenant's lock from reading committed until it
	// stores the new one, so readers can bound what they may see.
	type tenantRow struct {
		name      string
		id        uint
		mu        sync.Mutex
		committed atomic.Int64
	}
	rows := make([]*tenantRow, tenants)
	var bad failures
	parallel := func(f func(g int)) {
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() { f(g) })
		}
		wg.Wait()
	}

	// Phase 1: create every tenant (a wrap each) and its row.
	for i := range rows {
		rows[i] = &tenantRow{name: fmt.Sprintf("pressure-%04d", i)}
	}
	parallel(func(g int) {
		for i := g; i < tenants; i += goroutines {
			r := rows[i]
			rec := newRecord(r.name, r.name+"-s0", 1)
			ctx, cancel := context.WithTimeout(ctxFor(r.name), opTimeout)
			err := db.WithContext(ctx).Create(rec).Error
			cancel()
			if err != nil {
				bad.add("Create(%s) err = %v, want nil", r.name, err)
				continue
			}
			r.id = rec.ID
			r.committed.Store(1)
		}
	})
	if bad.count() > 0 {
		bad.report(t, "creates failed")
		t.FailNow()
	}
	afterCreate := keys.Stats()

	// Phase 2: random tenants, three reads to one write.
	parallel(func(g int) {
		rng := rand.New(rand.NewPCG(uint64(g), 3))
		for range opsEach {
			r := rows[rng.IntN(tenants)]
			ctx, cancel := context.WithTimeout(ctxFor(r.name), opTimeout)
			if rng.IntN(4) == 0 {
				r.mu.Lock()
				next := newRecord(r.name, r.name+"-s0", int(r.committed.Load())+1)
				next.ID = r.id
				res := db.WithContext(ctx).Save(next)
				switch {
				case res.Error != nil:
					bad.add("Save(%s rev %d) err = %v, want nil", r.name, next.Rev, res.Error)
				case res.RowsAffected != 1:
					bad.add("Save(%s) RowsAffected = %d, want 1", r.name, res.RowsAffected)
				default:
					r.committed.Store(int64(next.Rev))
				}
				r.mu.Unlock()
			} else {
				lo := r.committed.Load()
				var got record
				err := db.WithContext(ctx).First(&got, r.id).Error
				hi := r.committed.Load() + 1 // a write may be committed but not yet recorded
				switch {
				case err != nil:
					bad.add("First(%s) err = %v, want nil", r.name, err)
				case got.TenantID != r.name || int64(got.Rev) < lo || int64(got.Rev) > hi:
					bad.add("First(%s) = rev %d of %q, want rev in [%d, %d] of %q", r.name, got.Rev, got.TenantID, lo, hi, r.name)
				default:
					if err := got.check(); err != nil {
						bad.add("%v", err)
					}
				}
			}
			cancel()
		}
	})

	// Phase 3: every row, exactly as last written.
	parallel(func(g int) {
		for i := g; i < tenants; i += goroutines {
			r := rows[i]
			ctx, cancel := context.WithTimeout(ctxFor(r.name), opTimeout)
			var got record
			err := db.WithContext(ctx).First(&got, r.id).Error
			cancel()
			switch {
			case err != nil:
				bad.add("final First(%s) err = %v, want nil", r.name, err)
			case int64(got.Rev) != r.committed.Load():
				bad.add("final First(%s) rev = %d, want %d", r.name, got.Rev, r.committed.Load())
			default:
				if err := got.check(); err != nil {
					bad.add("final: %v", err)
				}
			}
		}
	})
	bad.report(t, "operations failed or read wrong values")

	st := keys.Stats()
	enc, dec := srv.Calls()
	t.Logf("fake KMS: %d Encrypt, %d Decrypt; after creates %+v; at the end %+v", enc, dec, afterCreate, st)
	if enc != 2*tenants+3 {
		t.Errorf("fake EncryptCalls() = %d, want %d: one data key and one index key wrap per tenant (and the canary, and the audit chain keys of both key tables)", enc, 2*tenants+3)
	}
	if dec == 0 {
		t.Errorf("fake DecryptCalls() = 0, want > 0: evicted keys were never unwrapped again, so there was no pressure")
	}
	if uint64(dec) > st.Misses {
		t.Errorf("fake DecryptCalls() = %d, want ≤ Stats().Misses = %d", dec, st.Misses)
	}
	if uint64(dec) != st.KMSUnwraps || uint64(enc) != st.KMSWraps {
		t.Errorf("fake calls %d Encrypt, %d Decrypt; Stats %d wraps, %d unwraps; want equal", enc, dec, st.KMSWraps, st.KMSUnwraps)
	}
	if st.Cached > 2*cacheSize {
		t.Errorf("Stats().Cached = %d, want ≤ %d (data keys and index keys, each cache bounded)", st.Cached, 2*cacheSize)
	}
	if st.Evictions == 0 {
		t.Errorf("Stats().Evictions = 0, want > 0")
	}

	// The canary was evicted: asking for its key again unwraps it again,
	// for a column it had derived or not.
	for _, col := range []string{"name", "email"} {
		before := keys.Stats().KMSUnwraps
		if _, err := keys.Cipher(context.Background(), "canary", 1, "records", col); err != nil {
			t.Fatalf("Cipher(canary, records, %s) after eviction err = %v", col, err)
		}
		if got := keys.Stats().KMSUnwraps - before; col == "name" && got != 1 {
			t.Errorf("KMS unwraps for the evicted canary = %d, want 1", got)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if got := fmt.Sprintf(verb, canary); !strings.Contains(got, "redacted") {
			t.Errorf("Sprintf(%q, cipher) = %q, want [redacted]", verb, got)
		}
	}
}
