package keystore

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
)

func TestActiveCreatesVersion1(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))

		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatalf("Active(acme) = %v", err)
		}
		if k.Tenant() != "acme" || k.Version() != 1 {
			t.Fatalf("Active(acme) = (%q, v%d), want (acme, v1)", k.Tenant(), k.Version())
		}
		row := readRaw(t, tdb, "acme", 1)
		if row.state != "active" || row.kekURI != testKEK || len(row.wrapped) == 0 {
			t.Fatalf("row (acme, 1) = %+v, want active under %s with a wrapped key", row, testKEK)
		}
		// The creator uses its own key: one wrap, no unwrap; and one wrap
		// of the audit trail's chain key, which starts the trail.
		if st := s.Stats(); st.KMSWraps != 2 || st.KMSUnwraps != 0 {
			t.Fatalf("Stats() = %+v, want 2 wraps and 0 unwraps", st)
		}
		again, err := s.active(ctxb, "acme")
		if err != nil || again != k {
			t.Fatalf("Active(acme) again = %p, %v; want the cached %p", again, err, k)
		}
		// Another process sees the same key through an unwrap.
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		ok, err := other.active(ctxb, "acme")
		if err != nil {
			t.Fatalf("other Active(acme) = %v", err)
		}
		sealOpen(t, k, ok)
		sealOpen(t, ok, k)
		if st := other.Stats(); st.KMSWraps != 0 || st.KMSUnwraps != 1 {
			t.Fatalf("other Stats() = %+v, want 0 wraps and 1 unwrap", st)
		}
		if n := countRows(t, tdb, "1 = 1"); n != 1 {
			t.Fatalf("rows = %d, want 1", n)
		}
	})
}

// TestActiveGetOrCreateRace races 16 processes (each its own pool, cache
// and keeper) on the first use of the same tenants.
func TestActiveGetOrCreateRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		const procs = 16
		tenants := []string{"acme", "globex", "initech"}
		drv := newInsecureTestKMS(t)
		stores := make([]*Store, procs)
		for i := range stores {
			db := tdb.open(t)
			db.SetMaxOpenConns(2)
			stores[i] = newTestStore(t, tdb, db, drv.keeper(testKEK))
		}

		keys := make([][]*dataKey, procs)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for i, s := range stores {
			keys[i] = make([]*dataKey, len(tenants))
			for j, tn := range tenants {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					k, err := s.active(ctxb, tn)
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					keys[i][j] = k
				}()
			}
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("Active errors: %v", errs)
		}

		for j, tn := range tenants {
			if n := countRows(t, tdb, "tenant_id = ?", tn); n != 1 {
				t.Errorf("rows of %s = %d, want 1", tn, n)
			}
			if n := countRows(t, tdb, "tenant_id = ? AND version = 1 AND state = 'active'", tn); n != 1 {
				t.Errorf("active version-1 rows of %s = %d, want 1", tn, n)
			}
			for i := range stores {
				if k := keys[i][j]; k.Version() != 1 || k.Tenant() != tn {
					t.Fatalf("store %d: Active(%s) = (%s, v%d), want v1", i, tn, k.Tenant(), k.Version())
				}
				// Every store holds the winner's key.
				sealOpen(t, keys[0][j], keys[i][j])
				sealOpen(t, keys[i][j], keys[0][j])
			}
		}

		// Per tenant exactly one store won and used its own key without
		// an unwrap; every other store unwrapped the winner's row once.
		var wraps, unwraps uint64
		for _, s := range stores {
			st := s.Stats()
			wraps += st.KMSWraps
			unwraps += st.KMSUnwraps
			if st.KMSErrors != 0 {
				t.Errorf("Stats().KMSErrors = %d, want 0", st.KMSErrors)
			}
		}
		// Besides the data keys, each process wraps a candidate chain key
		// for the audit trail, or unwraps the one that won: at most one
		// call each.
		if lo, hi := uint64((procs-1)*len(tenants)), uint64((procs-1)*len(tenants)+procs); unwraps < lo || unwraps > hi {
			t.Errorf("total unwraps = %d, want in [%d, %d]", unwraps, lo, hi)
		}
		if wraps < uint64(len(tenants)+1) || wraps > uint64(procs*len(tenants)+procs) {
			t.Errorf("total wraps = %d, want in [%d, %d]", wraps, len(tenants)+1, procs*len(tenants)+procs)
		}
		t.Logf("%d processes, %d tenants: %d wraps (losers' keys zeroed), %d unwraps", procs, len(tenants), wraps, unwraps)
		if got := drv.unwraps.Load(); uint64(got) != unwraps {
			t.Errorf("driver unwraps = %d, Stats say %d", got, unwraps)
		}
	})
}

func TestActiveErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		for _, tn := range []string{"", "a\x00b", "\xff\xfe", string(make([]byte, maxTenantLen+1))} {
			if _, err := s.active(ctxb, tn); !errors.Is(err, ErrInvalidTenant) {
				t.Errorf("Active(%q) = %v, want ErrInvalidTenant", tn, err)
			}
		}
		// A wrap that fails leaves no row behind.
		drv.failNext(errTestDenied)
		if _, err := s.active(ctxb, "acme"); !isKMSError(err) || kms.IsRetryable(err) {
			t.Fatalf("Active with KMS denied = %v, want a non-retryable Error", err)
		}
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 0 {
			t.Fatalf("rows after failed wrap = %d, want 0", n)
		}
		ctx, cancel := context.WithCancel(ctxb)
		cancel()
		if _, err := s.active(ctx, "acme"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Active(cancelled ctx) = %v, want context.Canceled", err)
		}
		s.Close()
		if _, err := s.active(ctxb, "acme"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Active after Close = %v, want ErrClosed", err)
		}
	})
}

// TestNewDoesNotCreateTable: New only prepares; the table is a
// migration step.
func TestNewDoesNotCreateTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		other := tdb.table + "_other"
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTable(other))
		if _, err := s.active(ctxb, "acme"); err == nil {
			t.Fatalf("Active on a missing table = nil error, want one")
		}
		var n int
		err := tdb.db.QueryRow(`SELECT COUNT(*) FROM ` + other).Scan(&n)
		if err == nil {
			t.Fatalf("table other_keys exists after New, want none")
		}
	})
}
