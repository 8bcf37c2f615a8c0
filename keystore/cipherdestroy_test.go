package keystore

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/redacttest"
)

// TestShredDestroysCiphers: every cipher the tenant's keys handed out,
// through Key.Cipher, Store.Cipher or Store.ActiveCipher (the lock-free
// indexes), of every version, fails with cipher.ErrCipherDestroyed once
// the tenant is shredded; another tenant's ciphers keep working.
func TestShredDestroysCiphers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK))
		k1, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		viaKey1 := mustKeyCipher(t, k1, "patients", "name")
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		viaActive, err := s.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		viaStore, err := s.Cipher(ctxb, "acme", 1, "patients", "email")
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.ActiveCipher(ctxb, "globex", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		sealed, _ := viaActive.Seal(nil, []byte("to be forgotten"))
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]*cipher.Cipher{"Key(1).Cipher": viaKey1, "ActiveCipher": viaActive, "Cipher(1)": viaStore} {
			if !c.Destroyed() {
				t.Errorf("%s not destroyed by Shred", name)
			}
			if _, err := c.Seal(nil, []byte("x")); !errors.Is(err, cipher.ErrCipherDestroyed) {
				t.Errorf("%s: Seal after Shred = %v, want cipher.ErrCipherDestroyed", name, err)
			}
			if _, err := c.SealDeterministic(nil, []byte("x")); !errors.Is(err, cipher.ErrCipherDestroyed) {
				t.Errorf("%s: SealDeterministic after Shred = %v, want cipher.ErrCipherDestroyed", name, err)
			}
		}
		if _, err := viaActive.Open(nil, sealed); !errors.Is(err, cipher.ErrCipherDestroyed) {
			t.Errorf("Open after Shred = %v, want cipher.ErrCipherDestroyed", err)
		}
		if v, err := other.Seal(nil, []byte("kept")); err != nil {
			t.Errorf("globex Seal after shredding acme = %v", err)
		} else if pt, err := other.Open(nil, v); err != nil || string(pt) != "kept" {
			t.Errorf("globex Open after shredding acme = %q, %v", pt, err)
		}
	})
}

// TestCloseDestroysCiphers: Close destroys every cipher the Store handed
// out, so none keeps sealing under a key of a closed Store.
func TestCloseDestroysCiphers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		s := newTestStore(t, tdb, tdb.open(t), newInsecureTestKMS(t).keeper(testKEK))
		var held []*cipher.Cipher
		for _, tenant := range []string{"acme", "globex"} {
			c, err := s.ActiveCipher(ctxb, tenant, "patients", "name")
			if err != nil {
				t.Fatal(err)
			}
			k, err := s.active(ctxb, tenant)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c, mustKeyCipher(t, k, "patients", "email"))
		}
		s.Close()
		for i, c := range held {
			if _, err := c.Seal(nil, []byte("x")); !errors.Is(err, cipher.ErrCipherDestroyed) {
				t.Errorf("cipher %d: Seal after Close = %v, want cipher.ErrCipherDestroyed", i, err)
			}
		}
	})
}

// TestEvictionKeepsHeldCiphers: a key leaving the cache for room or age
// is zeroed, but a cipher a statement holds keeps working until it is
// dropped (see the Key doc); the TTL sweep included.
func TestEvictionKeepsHeldCiphers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		clock := newFakeClock()
		s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}))
		c, err := s.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if n := s.cache.sweep(s.clock.precise()); n != 1 || !k.zeroed() {
			t.Fatalf("sweep after the TTL removed %d keys (zeroed %v), want 1", n, k.zeroed())
		}
		v, err := c.Seal(nil, []byte("mid-statement"))
		if err != nil {
			t.Fatalf("Seal with a held cipher of an expired key = %v", err)
		}
		if pt, err := c.Open(nil, v); err != nil || string(pt) != "mid-statement" {
			t.Fatalf("Open with a held cipher of an expired key = %q, %v", pt, err)
		}
		if c.Destroyed() {
			t.Fatal("expiry destroyed a held cipher")
		}
	})
}

// TestKeyRedactedByValue: a Key copied by value (by reflection; vet
// catches a plain copy only while Key holds a lock) prints no data key
// byte under any verb, JSON or slog, bare or inside other values.
func TestKeyRedactedByValue(t *testing.T) {
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK))
	k, err := s.active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	mustKeyCipher(t, k, "patients", "name")
	dek := append([]byte(nil), heldDEK(k)...)
	redacttest.Check(t, redacttest.Subjects("Key", k), dek)
	// The Store holds the cache of keys; its Stats are what gets logged.
	// The Store only by pointer: a reflection copy of it would race with
	// its janitor (and vet forbids a plain one: it holds atomics).
	redacttest.Check(t, map[string]any{
		"*Store": s, "struct{X *Store}": struct{ X *Store }{s}, "struct{x *Store}": struct{ x *Store }{s},
		"[]any{*Store}": []any{s}, "map[string]*Store": map[string]*Store{"s": s},
	}, dek)
	st := s.Stats()
	redacttest.Check(t, redacttest.Subjects("Stats", &st), dek)
	copied := reflect.ValueOf(k).Elem().Interface()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		if got := fmt.Sprintf(verb, copied); got != "[redacted]" {
			t.Errorf("Sprintf(%q, Key copy) = %q, want [redacted]", verb, got)
		}
	}
}

func mustKeyCipher(t testing.TB, k *dataKey, table, col string) *cipher.Cipher {
	t.Helper()
	c, err := k.Cipher(table, col)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
