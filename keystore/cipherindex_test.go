package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// indexed returns how many ciphers the store's index holds, counting
// every chain, and fails if that disagrees with the index's own count.
func indexed(t testing.TB, s *Store) int {
	t.Helper()
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	n := 0
	tb := s.cache.ciphers.table.Load()
	for i := range tb.chains {
		for r := tb.chains[i].Load(); r != nil; r = r.next {
			if r.hash&tb.mask != uint64(i) {
				t.Fatalf("ref (%s, %d, %s, %s) in chain %d, its hash says %d", r.cipher.Scope().Tenant, r.version(), r.cipher.Scope().Table, r.cipher.Scope().Column, i, r.hash&tb.mask)
			}
			if sc := r.cipher.Scope(); sc.Tenant != r.key.tenant || sc.Table != r.table || sc.Column != r.column || r.cipher.Version() != r.key.version {
				t.Fatalf("ref (%s, %d, %s, %s) holds a cipher of %+v version %d", r.key.tenant, r.key.version, r.table, r.column, sc, r.cipher.Version())
			}
			n++
		}
	}
	if n != s.cache.ciphers.n {
		t.Fatalf("index holds %d refs, counts %d", n, s.cache.ciphers.n)
	}
	return n
}

// TestStoreCipher: Store.Cipher is Key then Key.Cipher, counted like Key,
// and after the first call answers from the index.
func TestStoreCipher(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	k, err := s.active(ctxb, "acme")
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
	if n := indexed(t, s); n != 1 {
		t.Fatalf("index holds %d ciphers, want 1", n)
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
	if n := indexed(t, s); n != 2 {
		t.Fatalf("index holds %d ciphers, want 2", n)
	}
	// Length-prefixed scope: ("ab", "c") and ("a", "bc") are different.
	c1, _ := s.Cipher(ctxb, "acme", 1, "ab", "c")
	c2, _ := s.Cipher(ctxb, "acme", 1, "a", "bc")
	if c1 == c2 {
		t.Fatalf("Cipher(ab, c) and Cipher(a, bc) are one cipher")
	}
}

// TestStoreCipherExpiry: past the TTL the index does not answer; the
// refresh keeps the Key, so the same cipher comes back, from the index
// again afterwards.
func TestStoreCipherExpiry(t *testing.T) {
	_, _, s, clock := acmeInTable(t, WithTuning(Tuning{CacheTTL: time.Minute}))
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
	if n := indexed(t, s); n != 1 {
		t.Fatalf("index holds %d ciphers, want 1", n)
	}
}

// TestStoreCipherStale: with the KMS down past the TTL, the index serves
// within the stale grace, counted as stale, and not after it.
func TestStoreCipherStale(t *testing.T) {
	drv, _, s, clock := acmeInTable(t, WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{StaleGrace: 10 * time.Minute}), WithTuning(Tuning{KMSAttempts: 1, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}))
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
	// One stale serve by the failed refresh, two from the index.
	if st := s.Stats(); st.StaleServed != 3 || st.KMSUnwraps != 2 || st.Hits != 0 {
		t.Fatalf("Stats() in the grace = %+v, want 3 stale, 2 unwraps, 0 hits", st)
	}
	clock.Advance(10 * time.Minute)
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); !isKMSError(err) {
		t.Fatalf("Cipher after the grace = %v, want the KMS error", err)
	}
	if n := indexed(t, s); n != 0 {
		t.Fatalf("index holds %d ciphers after the key was dropped, want 0", n)
	}
}

// TestStoreCipherEvicted: an evicted key leaves the index with it, and a
// reload indexes the new key's cipher.
func TestStoreCipherEvicted(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{CacheMaxKeys: 1}))
	if _, err := s.active(ctxb, "t1"); err != nil {
		t.Fatal(err)
	}
	c1, err := s.Cipher(ctxb, "t1", 1, "patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := c1.Seal(nil, []byte("kept"))
	if _, err := s.active(ctxb, "t2"); err != nil {
		t.Fatal(err)
	}
	if n := indexed(t, s); n != 0 {
		t.Fatalf("index holds %d ciphers after eviction, want 0", n)
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
	if n := indexed(t, s); n != 1 {
		t.Fatalf("index holds %d ciphers, want 1", n)
	}
}

// TestStoreCipherReplaced: when a refresh finds another data key in the
// table, the old key's ciphers leave the index.
func TestStoreCipherReplaced(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	clock := newFakeClock()
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}))
	k, err := s.active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := s.kmsCall(ctxb, eventWrap, s.kek, "acme", 1, newDEK())
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
	s.marks = newVersionMarks(defaultCacheSize)
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
	if n := indexed(t, s); n != 1 {
		t.Fatalf("index holds %d ciphers, want 1", n)
	}
}

// TestStoreCipherShredClose: Shred and Close end the index's answers at
// once.
func TestStoreCipherShredClose(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{StaleGrace: time.Hour}))
	for _, tn := range []string{"acme", "globex"} {
		if _, err := s.active(ctxb, tn); err != nil {
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
	if n := indexed(t, s); n != 1 {
		t.Fatalf("index holds %d ciphers after Shred, want 1", n)
	}
	s.Close()
	if _, err := s.Cipher(ctxb, "globex", 1, "patients", "name"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Cipher after Close = %v, want ErrClosed", err)
	}
	if n := indexed(t, s); n != 0 {
		t.Fatalf("index holds %d ciphers after Close, want 0", n)
	}
}

// TestCipherIndexGrowAndRemove drives the index alone past several
// growths, with every ref found, then removes them in an order that hits
// chain heads, middles and tails.
func TestCipherIndexGrowAndRemove(t *testing.T) {
	x := newCipherIndex()
	type ref struct {
		k     *dataKey
		e     *entry
		table string
		col   string
		c     *cipher.Cipher
	}
	var refs []ref
	keys := map[string]*dataKey{}
	for i := range 1000 {
		tn := fmt.Sprintf("t%d", i%37)
		v := uint32(1 + i%3)
		id := fmt.Sprintf("%s/%d", tn, v)
		k := keys[id]
		if k == nil {
			k = newKey(tn, v, bytes.Repeat([]byte{1}, 32))
			keys[id] = k
		}
		r := ref{k: k, e: &entry{key: k}, table: fmt.Sprintf("tab%d", i%5), col: fmt.Sprintf("col%d", i)}
		// A ref's identity is its cipher's scope.
		c, err := k.Cipher(r.table, r.col)
		if err != nil {
			t.Fatal(err)
		}
		r.c = c
		if !x.add(r.e, k, r.table, r.col, r.c) {
			t.Fatalf("add #%d found it there already", i)
		}
		if x.add(r.e, k, r.table, r.col, r.c) {
			t.Fatalf("add #%d twice added twice", i)
		}
		refs = append(refs, r)
	}
	if got := len(x.table.Load().chains); got < 1000 {
		t.Fatalf("index has %d chains for 1000 refs, want it grown", got)
	}
	for i, r := range refs {
		got := x.lookup(r.k.tenant, r.k.version, r.table, r.col)
		if got == nil || got.cipher != r.c || got.key != r.k || got.entry != r.e {
			t.Fatalf("lookup #%d = %+v", i, got)
		}
		if x.lookup(r.k.tenant, r.k.version+3, r.table, r.col) != nil || x.lookup(r.k.tenant, r.k.version, r.col, r.table) != nil {
			t.Fatalf("lookup of a ref never added found one")
		}
	}
	for i := 0; i < len(refs); i += 2 {
		x.remove(refs[i].k, refs[i].table, refs[i].col)
	}
	found := func(r ref) bool { return x.lookup(r.k.tenant, r.k.version, r.table, r.col) != nil }
	for i := len(refs) - 1; i >= 0; i -= 2 {
		x.remove(refs[i].k, refs[i].table, refs[i].col)
		if found(refs[i]) || found(refs[i-1]) {
			t.Fatalf("ref %d or %d found after its removal", i, i-1)
		}
		if i >= 2 && !found(refs[i-2]) {
			t.Fatalf("ref %d lost by the removal of ref %d", i-2, i)
		}
	}
	if x.n != 0 {
		t.Fatalf("index counts %d refs after removing all", x.n)
	}
}

// TestStoreCipherConcurrent runs Cipher on many goroutines while the
// cache evicts and a tenant is shredded, for -race, and checks that every
// cipher handed out is the right one for its tenant.
func TestStoreCipherConcurrent(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{CacheMaxKeys: 4}))
	tenants := []string{"a", "b", "c", "d", "e", "f"}
	sealed := map[string][]byte{}
	for _, tn := range tenants {
		k, err := s.active(ctxb, tn)
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
	if n, cached := indexed(t, s), s.Stats().Cached; n > cached {
		t.Fatalf("index holds %d ciphers for %d cached keys of one column", n, cached)
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
	if _, err := first.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), append([]Option{withClock(clock.Now)}, opts...)...)
	return drv, first, s, clock
}
