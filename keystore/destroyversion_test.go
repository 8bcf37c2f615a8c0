package keystore

import (
	"errors"
	"testing"
	"time"
)

func TestDestroyVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		opts := []Option{withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute})}
		var rec recorder
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), append(opts, rec.opts()...)...)
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), opts...)

		v1, sealed1 := sealVersion(t, s, "acme")
		for range 2 {
			if _, err := s.Rotate(ctxb, "acme"); err != nil {
				t.Fatal(err)
			}
		}
		k1, err := s.lookupKey(ctxb, "acme", v1)
		if err != nil {
			t.Fatal(err)
		}
		c1, err := s.Cipher(ctxb, "acme", v1, "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c1.Open(nil, sealed1); err != nil {
			t.Fatalf("Open(v1 value) before DestroyVersion = %v", err)
		}
		if _, err := other.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatal(err)
		}
		dek1 := heldDEK(k1) // white box: the cached bytes

		if err := s.DestroyVersion(ctxb, "acme", 3); !errors.Is(err, ErrVersionInUse) {
			t.Fatalf("DestroyVersion(acme, 3 active) = %v, want ErrVersionInUse", err)
		}
		if err := s.DestroyVersion(ctxb, "acme", 9); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("DestroyVersion(acme, 9) = %v, want ErrKeyNotFound", err)
		}
		if err := s.DestroyVersion(ctxb, "nobody", 1); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("DestroyVersion(nobody, 1) = %v, want ErrKeyNotFound", err)
		}
		if r := readRaw(t, tdb, "acme", 3); r.state != "active" || r.null {
			t.Fatalf("row (acme, 3) after a refused DestroyVersion = %+v, want it untouched", r)
		}

		if err := s.DestroyVersion(ctxb, "acme", 1); err != nil {
			t.Fatalf("DestroyVersion(acme, 1) = %v", err)
		}
		if r := readRaw(t, tdb, "acme", 1); r.state != "destroyed" || !r.null {
			t.Fatalf("row (acme, 1) after DestroyVersion = %+v, want destroyed with NULL wrapped_dek", r)
		}
		for _, b := range dek1 {
			if b != 0 {
				t.Fatalf("cached key v1 not zeroed by DestroyVersion")
			}
		}
		if ev := rec.kinds(eventDestroyVersion); len(ev) != 1 || ev[0].Version != 1 {
			t.Fatalf("destroy events = %+v, want one for v1", ev)
		}
		// In this process at once, through every way to the key.
		if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("Cipher(acme, 1) after DestroyVersion = %v, want ErrKeyDestroyed", err)
		}
		if _, err := s.lookupKey(ctxb, "acme", 1); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("Key(acme, 1) after DestroyVersion = %v, want ErrKeyDestroyed", err)
		}
		if _, err := k1.Cipher("patients", "email"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("Key.Cipher of v1 after DestroyVersion = %v, want ErrKeyDestroyed", err)
		}
		// The other versions are untouched.
		if v, _ := sealVersion(t, s, "acme"); v != 3 {
			t.Fatalf("Active(acme) after DestroyVersion(1) = v%d, want v3", v)
		}
		if _, err := s.lookupKey(ctxb, "acme", 2); err != nil {
			t.Fatalf("Key(acme, 2) after DestroyVersion(1) = %v", err)
		}
		live, err := s.liveKeys(ctxb, "acme")
		if err != nil || len(live) != 2 {
			t.Fatalf("liveKeys(acme) = %v, %v; want v3, v2", live, err)
		}
		if err := s.DestroyVersion(ctxb, "acme", 1); err != nil {
			t.Fatalf("DestroyVersion(acme, 1) again = %v, want nil", err)
		}

		// Another process sees it once its cached copy expires, and only
		// for that version.
		clock.Advance(time.Minute)
		if _, err := other.lookupKey(ctxb, "acme", 1); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("other Key(acme, 1) after TTL = %v, want ErrKeyDestroyed", err)
		}
		if k, err := other.active(ctxb, "acme"); err != nil || k.Version() != 3 {
			t.Fatalf("other Active(acme) after DestroyVersion(1) = %v, %v; want v3", k, err)
		}

		// The state column does not decide what may be destroyed: v2
		// marked active is refused, and so is v3, still the highest live.
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET state = 'retired' WHERE tenant_id = ? AND version = 3`), "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET state = 'active' WHERE tenant_id = ? AND version = 2`), "acme"); err != nil {
			t.Fatal(err)
		}
		for _, v := range []uint32{2, 3} {
			if err := s.DestroyVersion(ctxb, "acme", v); !errors.Is(err, ErrVersionInUse) {
				t.Fatalf("DestroyVersion(acme, %d) = %v, want ErrVersionInUse", v, err)
			}
		}
		// A new version comes after every row, destroyed ones included.
		if v, err := s.Rotate(ctxb, "acme"); err != nil || v != 4 {
			t.Fatalf("Rotate(acme) after DestroyVersion = %d, %v; want 4", v, err)
		}
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := s.DestroyVersion(ctxb, "acme", 2); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("DestroyVersion on a shredded tenant = %v, want ErrKeyDestroyed", err)
		}
	})
}
