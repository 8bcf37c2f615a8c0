package keystore

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestMinVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		var min atomic.Uint32
		opts := []Option{withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}), WithTenantPolicy(TenantPolicy{MinVersion: func(tenant string) uint32 {
			if tenant == "acme" {
				return min.Load()
			}
			return 3
		}})}
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), opts...)

		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatalf("Key(acme, 1) with no minimum = %v", err)
		}
		// Raised: a cached key keeps serving within its TTL (the check is
		// made when a key enters the cache), then is refused.
		min.Store(2)
		clock.Advance(time.Minute)
		var me *Error
		if _, err := s.lookupKey(ctxb, "acme", 1); !errors.Is(err, ErrVersionTooOld) || !errors.As(err, &me) || me.Min != 2 {
			t.Fatalf("Key(acme, 1) below the minimum = %v, want a Error", err)
		}
		if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); !errors.Is(err, ErrVersionTooOld) {
			t.Fatalf("Cipher(acme, 1) below the minimum = %v, want ErrVersionTooOld", err)
		}
		if v, _ := sealVersion(t, s, "acme"); v != 2 {
			t.Fatalf("ActiveCipher(acme) = v%d, want v2", v)
		}
		live, err := s.liveKeys(ctxb, "acme")
		if err != nil || len(live) != 1 || live[0].Version() != 2 {
			t.Fatalf("liveKeys(acme) with minimum 2 = %v, %v; want [v2]", live, err)
		}

		// A minimum above every version: nothing seals until a rotation,
		// which jumps to the minimum.
		min.Store(5)
		clock.Advance(time.Minute)
		if _, err := s.active(ctxb, "acme"); !errors.Is(err, ErrVersionTooOld) {
			t.Fatalf("Active(acme) with its newest version below the minimum = %v, want ErrVersionTooOld", err)
		}
		if v, err := s.Rotate(ctxb, "acme"); err != nil || v != 5 {
			t.Fatalf("Rotate(acme) with minimum 5 = %d, %v; want 5", v, err)
		}
		if v, _ := sealVersion(t, s, "acme"); v != 5 {
			t.Fatalf("ActiveCipher(acme) after Rotate = v%d, want v5", v)
		}
		// A new tenant's first key starts at its minimum.
		if v, _ := sealVersion(t, s, "globex"); v != 3 {
			t.Fatalf("first key of globex with minimum 3 = v%d, want v3", v)
		}
		// The table cannot lower it: marking v1 active changes nothing.
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET state = 'retired' WHERE tenant_id = ?`), "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET state = 'active' WHERE tenant_id = ? AND version = 1`), "acme"); err != nil {
			t.Fatal(err)
		}
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), opts...)
		if _, err := fresh.lookupKey(ctxb, "acme", 1); !errors.Is(err, ErrVersionTooOld) {
			t.Fatalf("fresh Key(acme, 1) = %v, want ErrVersionTooOld", err)
		}
		if v, _ := sealVersion(t, fresh, "acme"); v != 5 {
			t.Fatalf("fresh ActiveCipher(acme) = v%d, want v5", v)
		}
	})
}
