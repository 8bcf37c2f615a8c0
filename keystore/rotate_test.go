package keystore

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestRotate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}))
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}))

		if _, err := s.Rotate(ctxb, "acme"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Rotate(new tenant) = %v, want ErrKeyNotFound", err)
		}
		k1, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		c1, _ := k1.Cipher("patients", "name")
		sealed1, _ := c1.Seal(nil, []byte("sealed under v1"))
		o1, err := other.active(ctxb, "acme")
		if err != nil || o1.Version() != 1 {
			t.Fatalf("other Active(acme) = %v, %v; want v1", o1, err)
		}

		v, err := s.Rotate(ctxb, "acme")
		if err != nil || v != 2 {
			t.Fatalf("Rotate(acme) = %d, %v; want 2, nil", v, err)
		}
		// This process uses the new version at once, without a KMS call.
		before := s.Stats()
		k2, err := s.active(ctxb, "acme")
		if err != nil || k2.Version() != 2 {
			t.Fatalf("Active(acme) after Rotate = %v, %v; want v2", k2, err)
		}
		if after := s.Stats(); after.KMSUnwraps != before.KMSUnwraps {
			t.Fatalf("Active after Rotate unwrapped (%d → %d), want the rotated key cached", before.KMSUnwraps, after.KMSUnwraps)
		}
		if r := readRaw(t, tdb, "acme", 1); r.state != "retired" || r.null {
			t.Fatalf("row v1 after Rotate = %+v, want retired with its wrapped key", r)
		}
		if r := readRaw(t, tdb, "acme", 2); r.state != "active" {
			t.Fatalf("row v2 after Rotate = %+v, want active", r)
		}
		// The old version still opens what it sealed; the new one does not.
		old, err := s.lookupKey(ctxb, "acme", 1)
		if err != nil {
			t.Fatalf("Key(acme, 1) = %v", err)
		}
		oc, _ := old.Cipher("patients", "name")
		if pt, err := oc.Open(nil, sealed1); err != nil || string(pt) != "sealed under v1" {
			t.Fatalf("Open(v1 value) with Key(acme, 1) = %q, %v", pt, err)
		}
		nc, _ := k2.Cipher("patients", "name")
		if _, err := nc.Open(nil, sealed1); err == nil {
			t.Fatalf("Open(v1 value) with v2 = nil error, want failure")
		}

		// The other process keeps v1 until its TTL passes, then sees v2.
		if k, _ := other.active(ctxb, "acme"); k.Version() != 1 {
			t.Fatalf("other Active within TTL = v%d, want v1", k.Version())
		}
		clock.Advance(time.Minute)
		ok2, err := other.active(ctxb, "acme")
		if err != nil || ok2.Version() != 2 {
			t.Fatalf("other Active after TTL = %v, %v; want v2", ok2, err)
		}
		sealOpen(t, k2, ok2)

		live, err := other.liveKeys(ctxb, "acme")
		if err != nil || len(live) != 2 || live[0].Version() != 2 || live[1].Version() != 1 {
			t.Fatalf("liveKeys(acme) = %v, %v; want [v2 v1]", live, err)
		}
		// liveKeys in the rotating process sees the rotation at once.
		if _, err := s.liveKeys(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Rotate(ctxb, "acme"); err != nil || v != 3 {
			t.Fatalf("Rotate(acme) = %d, %v; want 3", v, err)
		}
		live, err = s.liveKeys(ctxb, "acme")
		if err != nil || len(live) != 3 || live[0].Version() != 3 {
			t.Fatalf("liveKeys(acme) after Rotate = %v, %v; want [v3 v2 v1]", live, err)
		}
		if n := countRows(t, tdb, "tenant_id = ? AND state = 'active'", "acme"); n != 1 {
			t.Fatalf("active rows = %d, want 1", n)
		}
	})
}

// TestRotateConcurrent: rotations racing from several processes run one
// after another or fail cleanly with ErrConflict; never two actives.
func TestRotateConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		const procs = 4
		const rounds = 3
		drv := newInsecureTestKMS(t)
		stores := make([]*Store, procs)
		for i := range stores {
			stores[i] = newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		}
		if _, err := stores[0].active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		var (
			mu       sync.Mutex
			versions = map[uint32]bool{}
			ok       int
			wg       sync.WaitGroup
		)
		start := make(chan struct{})
		for _, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range rounds {
					v, err := s.Rotate(ctxb, "acme")
					mu.Lock()
					switch {
					case err == nil:
						if versions[v] {
							t.Errorf("Rotate returned version %d twice", v)
						}
						versions[v] = true
						ok++
					case errors.Is(err, ErrConflict):
					default:
						t.Errorf("Rotate(acme) = %v, want success or ErrConflict", err)
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok == 0 {
			t.Fatalf("no Rotate succeeded")
		}
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 1+ok {
			t.Fatalf("rows = %d, want %d (v1 + one per successful Rotate)", n, 1+ok)
		}
		if n := countRows(t, tdb, "tenant_id = ? AND state = 'active'", "acme"); n != 1 {
			t.Fatalf("active rows = %d, want 1", n)
		}
		if n := countRows(t, tdb, "tenant_id = ? AND state = 'active' AND version = ?", "acme", int64(1+ok)); n != 1 {
			t.Fatalf("the active row is not the newest version %d", 1+ok)
		}
		t.Logf("%d of %d rotations succeeded", ok, procs*rounds)
	})
}

func TestRotateWrapFailureLeavesTableAlone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		drv.failNext(errTestDenied)
		if _, err := s.Rotate(ctxb, "acme"); !isKMSError(err) {
			t.Fatalf("Rotate with KMS denied = %v, want Error", err)
		}
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 1 {
			t.Fatalf("rows = %d, want 1", n)
		}
		if k, err := s.active(ctxb, "acme"); err != nil || k.Version() != 1 {
			t.Fatalf("Active = %v, %v; want v1", k, err)
		}
	})
}
