package keystore

import (
	"errors"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

func TestShred(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		opts := []Option{withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{StaleGrace: time.Hour})}
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), opts...)
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), opts...)

		if err := s.Shred(ctxb, "acme"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Shred(unknown tenant) = %v, want ErrKeyNotFound", err)
		}
		k1, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		k2, _ := s.active(ctxb, "acme")
		c2, err := k2.Cipher("patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		sealed, _ := c2.Seal(nil, []byte("to be forgotten"))
		ok2, err := other.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		globex, err := s.active(ctxb, "globex")
		if err != nil {
			t.Fatal(err)
		}
		dek1, dek2 := heldDEK(k1), heldDEK(k2) // white box: the cached bytes

		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatalf("Shred(acme) = %v", err)
		}
		for v := uint32(1); v <= 2; v++ {
			if r := readRaw(t, tdb, "acme", v); r.state != "destroyed" || !r.null {
				t.Fatalf("row (acme, %d) after Shred = %+v, want destroyed with NULL wrapped_dek", v, r)
			}
		}
		// This process zeroed its keys at once.
		for i, d := range [][]byte{dek1, dek2} {
			for _, b := range d {
				if b != 0 {
					t.Fatalf("cached key %d not zeroed after Shred", i+1)
				}
			}
		}
		if _, err := k2.Cipher("patients", "email"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("Key.Cipher after Shred = %v, want ErrKeyDestroyed", err)
		}
		// A cipher derived before is destroyed with the key: Shred
		// promises the key is gone from this process, subkeys included.
		if _, err := c2.Open(nil, sealed); !errors.Is(err, cipher.ErrCipherDestroyed) {
			t.Fatalf("Open with a cipher derived before Shred = %v, want cipher.ErrCipherDestroyed", err)
		}
		for _, call := range []struct {
			name string
			f    func() error
		}{
			{"Active", func() error { _, err := s.active(ctxb, "acme"); return err }},
			{"Key(1)", func() error { _, err := s.lookupKey(ctxb, "acme", 1); return err }},
			{"Key(2)", func() error { _, err := s.lookupKey(ctxb, "acme", 2); return err }},
			{"liveKeys", func() error { _, err := s.liveKeys(ctxb, "acme"); return err }},
			{"Rotate", func() error { _, err := s.Rotate(ctxb, "acme"); return err }},
		} {
			if err := call.f(); !errors.Is(err, ErrKeyDestroyed) {
				t.Errorf("%s after Shred = %v, want ErrKeyDestroyed", call.name, err)
			}
		}
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatalf("Shred(acme) again = %v, want nil", err)
		}

		// Another process keeps its key until its TTL passes; then it sees
		// the shred, even with the KMS down and a stale grace.
		if k, err := other.active(ctxb, "acme"); err != nil || k != ok2 {
			t.Fatalf("other Active within TTL = %v, %v; want its cached key", k, err)
		}
		drv.setDown(retryable())
		clock.Advance(time.Minute)
		if _, err := other.active(ctxb, "acme"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("other Active after TTL = %v, want ErrKeyDestroyed", err)
		}
		if _, err := other.lookupKey(ctxb, "acme", 2); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("other Key(acme, 2) after TTL = %v, want ErrKeyDestroyed", err)
		}
		if !ok2.zeroed() {
			t.Fatalf("other's key not zeroed after it saw the shred")
		}
		drv.setDown(nil)

		// A new process never creates a key for the shredded tenant.
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		if _, err := fresh.active(ctxb, "acme"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("fresh Active(acme) = %v, want ErrKeyDestroyed", err)
		}
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 2 {
			t.Fatalf("rows of acme = %d, want 2 (no new key)", n)
		}
		// Other tenants are untouched.
		g, err := fresh.active(ctxb, "globex")
		if err != nil {
			t.Fatalf("Active(globex) after shredding acme = %v", err)
		}
		sealOpen(t, globex, g)
		if _, err := globex.Cipher("t", "c"); err != nil {
			t.Fatalf("globex Key.Cipher = %v", err)
		}
	})
}
