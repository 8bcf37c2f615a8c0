package keystore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestStoreCipher: Store.Cipher is Key then Key.Cipher, counted like Key,
// and after the first call answers from the cache.
func TestStoreCipher(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	k, err := s.Active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := k.Cipher("patients", "name")
	for i := range 3 {
		c, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
		if err != nil || c != want {
			t.Fatalf("Cipher() #%d = %p, %v; want Key(1).Cipher's %p", i, c, err, want)
		}
	}
	if st := s.Stats(); st.Hits != 3 || st.Misses != 1 {
		t.Fatalf("Stats() = %+v, want 3 hits (one per Cipher) and the 1 miss of Active", st)
	}
	// Another column, another version, another tenant: each its own.
	email, _ := s.Cipher(ctxb, "acme", 1, "patients", "email")
	if email == want || email == nil {
		t.Fatalf("Cipher(patients, email) = %p, want a cipher of its own", email)
	}
	if _, err := s.Cipher(ctxb, "acme", 2, "patients", "name"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Cipher(version 2) = %v, want ErrKeyNotFound", err)
	}
	if _, err := s.Cipher(ctxb, "", 1, "patients", "name"); err == nil {
		t.Fatalf("Cipher(empty tenant) succeeded")
	}
	// Length-prefixed scope: ("ab", "c") and ("a", "bc") are different.
	c1, _ := s.Cipher(ctxb, "acme", 1, "ab", "c")
	c2, _ := s.Cipher(ctxb, "acme", 1, "a", "bc")
	if c1 == c2 {
		t.Fatalf("Cipher(ab, c) and Cipher(a, bc) are one cipher")
	}
}

// TestStoreCipherExpiry: past the TTL the cache does not answer; the
// refresh keeps the Key, so the same cipher comes back, from the cache
// again afterwards.
func TestStoreCipherExpiry(t *testing.T) {
	_, _, s, clock := acmeInTable(t, WithCacheTTL(time.Minute))
	c, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if c2, _ := s.Cipher(ctxb, "acme", 1, "patients", "name"); c2 != c || s.Stats().KMSUnwraps != 1 {
		t.Fatalf("Cipher within the TTL asked the KMS or changed cipher")
	}
	clock.Advance(time.Nanosecond)
	if c2, _ := s.Cipher(ctxb, "acme", 1, "patients", "name"); c2 != c {
		t.Fatalf("Cipher after the refresh = %p, want the same cipher %p", c2, c)
	}
	if st := s.Stats(); st.KMSUnwraps != 2 || st.Misses != 2 || st.Hits != 1 {
		t.Fatalf("Stats() after the TTL = %+v, want 2 unwraps, 2 misses, 1 hit", st)
	}
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.KMSUnwraps != 2 || st.Hits != 2 {
		t.Fatalf("Stats() after the refresh = %+v, want a hit without unwrap", st)
	}
}

// TestStoreCipherStale: with the KMS down past the TTL, the cache serves
// within the stale grace, counted as stale, and not after it.
func TestStoreCipherStale(t *testing.T) {
	drv, _, s, clock := acmeInTable(t, WithCacheTTL(time.Minute), WithStaleGrace(10*time.Minute), WithRetry(1, time.Millisecond, time.Millisecond))
	c, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	drv.setDown(retryable())
	defer drv.setDown(nil)
	clock.Advance(time.Minute)
	for i := range 3 {
		if c2, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil || c2 != c {
			t.Fatalf("Cipher #%d in the grace = %v; want the expired key's cipher", i, err)
		}
	}
	// One stale serve by the failed refresh, two from the cache.
	if st := s.Stats(); st.StaleServed != 3 || st.KMSUnwraps != 2 || st.Hits != 0 {
		t.Fatalf("Stats() in the grace = %+v, want 3 stale, 2 unwraps, 0 hits", st)
	}
	clock.Advance(10 * time.Minute)
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); !isKMSError(err) {
		t.Fatalf("Cipher after the grace = %v, want the KMS error", err)
	}
}

// TestStoreCipherEvicted: an evicted key's ciphers are no longer
// handed out, and a reload derives the new key's cipher.
func TestStoreCipherEvicted(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithCacheSize(1))
	if _, err := s.Active(ctxb, "t1"); err != nil {
		t.Fatal(err)
	}
	c1, err := s.Cipher(ctxb, "t1", 1, "patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := c1.Seal(nil, []byte("kept"))
	if _, err := s.Active(ctxb, "t2"); err != nil {
		t.Fatal(err)
	}
	c1b, err := s.Cipher(ctxb, "t1", 1, "patients", "name")
	if err != nil || c1b == c1 {
		t.Fatalf("Cipher(t1) after eviction = %p, %v; want a new key's cipher", c1b, err)
	}
	if pt, err := c1b.Open(nil, sealed); err != nil || string(pt) != "kept" {
		t.Fatalf("reloaded cipher cannot open = %v", err)
	}
	if st := s.Stats(); st.Evictions != 2 || st.Cached != 1 {
		t.Fatalf("Stats() = %+v, want 2 evictions, 1 cached", st)
	}
}

// TestStoreCipherReplaced: when a refresh finds another data key in the
// table, the old key's ciphers are no longer handed out.
func TestStoreCipherReplaced(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	clock := newFakeClock()
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithClock(clock.Now), WithCacheTTL(time.Minute))
	k, err := s.Active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := s.kmsCall(ctxb, EventWrap, s.kek, "acme", 1, newDEK())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET wrapped_dek = ? WHERE tenant_id = ? AND version = ?`), wrapped, "acme", 1); err != nil {
		t.Fatal(err)
	}
	// White box: the Store forgets what it saw of the tenant, as past
	// the bound of its version marks, so the refresh reaches the cache's
	// own handling of a replaced key (TestReplacedKeyRow covers the
	// refusal when the Store remembers).
	s.marks = newVersionMarks(DefaultCacheSize)
	clock.Advance(time.Minute)
	c, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
	if err != nil || c == old {
		t.Fatalf("Cipher after the key was replaced = %p, %v; want the new key's cipher", c, err)
	}
	if !k.zeroed() {
		t.Fatalf("replaced key not zeroed")
	}
	v, _ := c.Seal(nil, []byte("x"))
	if _, err := old.Open(nil, v); err == nil {
		t.Fatalf("the old key's cipher opened a value of the new key")
	}
}

// TestStoreCipherShredClose: Shred and Close end the cache's answers at
// once.
func TestStoreCipherShredClose(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithStaleGrace(time.Hour))
	for _, tn := range []string{"acme", "globex"} {
		if _, err := s.Active(ctxb, tn); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cipher(ctxb, tn, 1, "patients", "name"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Shred(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("Cipher after Shred = %v, want ErrKeyDestroyed", err)
	}
	if _, err := s.Cipher(ctxb, "globex", 1, "patients", "name"); err != nil {
		t.Fatalf("Cipher of another tenant after Shred = %v", err)
	}
	s.Close()
	if _, err := s.Cipher(ctxb, "globex", 1, "patients", "name"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Cipher after Close = %v, want ErrClosed", err)
	}
}

// TestStoreCipherConcurrent runs Cipher on many goroutines while the
// cache evicts and a tenant is shredded, for -race, and checks that every
// cipher handed out is the right one for its tenant.
func TestStoreCipherConcurrent(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithCacheSize(4))
	tenants := []string{"a", "b", "c", "d", "e", "f"}
	sealed := map[string][]byte{}
	for _, tn := range tenants {
		k, err := s.Active(ctxb, tn)
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Cipher("patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		sealed[tn], _ = c.Seal(nil, []byte(tn))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				tn := tenants[(g+i)%len(tenants)]
				c, err := s.Cipher(ctxb, tn, 1, "patients", "name")
				// Evicted between Key and Key.Cipher: ask again, as
				// callers do. And f is being shredded.
				if errors.Is(err, ErrKeyEvicted) || tn == "f" && errors.Is(err, ErrKeyDestroyed) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("Cipher(%s) = %w", tn, err)
					return
				}
				if pt, err := c.Open(nil, sealed[tn]); err != nil || string(pt) != tn {
					errs <- fmt.Errorf("Cipher(%s) opened its value as %q, %v", tn, pt, err)
					return
				}
			}
		})
	}
	if err := s.Shred(ctxb, "f"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := s.Cipher(ctxb, "f", 1, "patients", "name"); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("Cipher(f) after Shred = %v, want ErrKeyDestroyed", err)
	}
}

// acmeInTable has one Store create tenant acme's first key, and returns
// it with a second Store, on its own connection and with opts, whose
// clock the test moves: a process that finds the key in the table.
func acmeInTable(t *testing.T, opts ...Option) (*insecureTestKMS, *Store, *Store, *fakeClock) {
	t.Helper()
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	first := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	if _, err := first.Active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), append([]Option{WithClock(clock.Now)}, opts...)...)
	return drv, first, s, clock
}
