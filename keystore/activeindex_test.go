package keystore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// activeIndexed returns how many ciphers the store's index of active
// keys serves (those its refs' keys handed out), and fails unless every
// ref is in its hash's chain, one per tenant, published under its
// tenant's current, unretired active record, with that record's key.
func activeIndexed(t testing.TB, s *Store) int {
	t.Helper()
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	refs, n := 0, 0
	seen := map[string]bool{}
	tb := c.actives.table.Load()
	for i := range tb.chains {
		for r := tb.chains[i].Load(); r != nil; r = r.next {
			tenant := r.key.tenant
			if r.hash&tb.mask != uint64(i) {
				t.Fatalf("active ref of %s in chain %d, its hash says %d", tenant, i, r.hash&tb.mask)
			}
			te := c.tenants[tenant]
			switch {
			case seen[tenant]:
				t.Fatalf("two active refs of %s", tenant)
			case te == nil || te.active != r.rec:
				t.Fatalf("active ref of %s under a record that is not its tenant's", tenant)
			case r.rec.exp.Load() == retiredExp:
				t.Fatalf("active ref of %s under a retired record", tenant)
			case r.key != r.rec.entry.key || r.key.zeroed():
				t.Fatalf("active ref of %s not of its record's key", tenant)
			}
			seen[tenant] = true
			for _, ci := range r.key.cipherList() {
				if ci.Version() != r.key.version || ci.Scope().Tenant != tenant {
					t.Fatalf("active key of %s lists a cipher of %+v version %d", tenant, ci.Scope(), ci.Version())
				}
				n++
			}
			refs++
		}
	}
	if refs != c.actives.n {
		t.Fatalf("active index holds %d refs, counts %d", refs, c.actives.n)
	}
	return n
}

// mustActiveCipher is ActiveCipher that fails the test on error.
func mustActiveCipher(t testing.TB, s *Store, tenant, table, column string) *cipher.Cipher {
	t.Helper()
	c, err := s.ActiveCipher(ctxb, tenant, table, column)
	if err != nil {
		t.Fatalf("ActiveCipher(%s, %s, %s) = %v", tenant, table, column, err)
	}
	return c
}

// TestStoreActiveCipher: ActiveCipher is Active then Key.Cipher, counted
// like Active, and after the first call answers from the index.
func TestStoreActiveCipher(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	c := mustActiveCipher(t, s, "acme", "patients", "name")
	k, err := s.active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := k.Cipher("patients", "name"); c != want || c.Version() != 1 {
		t.Fatalf("ActiveCipher() = %p (version %d); want Active's cipher %p, version 1", c, c.Version(), want)
	}
	for i := range 3 {
		if c2 := mustActiveCipher(t, s, "acme", "patients", "name"); c2 != c {
			t.Fatalf("ActiveCipher() #%d = %p, want %p", i, c2, c)
		}
	}
	// 1 miss creating the key, then Active and 3 indexed answers.
	if st := s.Stats(); st.Hits != 4 || st.Misses != 1 {
		t.Fatalf("Stats() = %+v, want 4 hits and 1 miss", st)
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers, want 1", n)
	}
	// The index of versions is Cipher's alone.
	if n := indexed(t, s); n != 0 {
		t.Fatalf("version index holds %d ciphers, want 0", n)
	}
	// Another column, another tenant: each its own.
	email := mustActiveCipher(t, s, "acme", "patients", "email")
	other := mustActiveCipher(t, s, "globex", "patients", "name")
	if email == c || other == c || email == other {
		t.Fatalf("ActiveCipher of other columns or tenants shares a cipher")
	}
	if _, err := s.ActiveCipher(ctxb, "", "patients", "name"); err == nil {
		t.Fatalf("ActiveCipher(empty tenant) succeeded")
	}
	if n := activeIndexed(t, s); n != 3 {
		t.Fatalf("active index holds %d ciphers, want 3", n)
	}
	// What it seals, Cipher of its version opens.
	v, _ := email.Seal(nil, []byte("x"))
	oc, err := s.Cipher(ctxb, "acme", email.Version(), "patients", "email")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := oc.Open(nil, v); err != nil || string(pt) != "x" {
		t.Fatalf("Cipher(active version) cannot open ActiveCipher's value: %v", err)
	}
}

// TestStoreActiveCipherRotate: a rotation by this process ends the old
// version's answers at once, also for a reader that already holds its
// ref, and the old version still opens.
func TestStoreActiveCipherRotate(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	c1 := mustActiveCipher(t, s, "acme", "patients", "name")
	sealed, _ := c1.Seal(nil, []byte("old"))
	held := s.cache.actives.lookup("acme")
	if held == nil {
		t.Fatal("no active ref after ActiveCipher")
	}
	v, err := s.Rotate(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if held.rec.exp.Load() != retiredExp {
		t.Fatalf("the record of the rotated-out version is not retired")
	}
	if n := activeIndexed(t, s); n != 0 {
		t.Fatalf("active index holds %d ciphers after Rotate, want 0", n)
	}
	c2 := mustActiveCipher(t, s, "acme", "patients", "name")
	if c2 == c1 || c2.Version() != v {
		t.Fatalf("ActiveCipher after Rotate = version %d, want %d", c2.Version(), v)
	}
	if c3 := mustActiveCipher(t, s, "acme", "patients", "name"); c3 != c2 {
		t.Fatalf("ActiveCipher after Rotate is not answered from the index")
	}
	old, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
	if err != nil || old != c1 {
		t.Fatalf("Cipher(version 1) after Rotate = %p, %v; want the retired key's %p", old, err, c1)
	}
	if pt, err := old.Open(nil, sealed); err != nil || string(pt) != "old" {
		t.Fatalf("the retired version cannot open its value: %v", err)
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers, want 1", n)
	}
}

// TestStoreActiveCipherRotationSeen: a rotation by another process is
// seen when the active record's own TTL passes, as by Active, even when
// opens kept the old key itself fresh in between.
func TestStoreActiveCipherRotationSeen(t *testing.T) {
	_, other, s, clock := acmeInTable(t, WithTuning(Tuning{CacheTTL: time.Minute}))
	// The key of version 1 is cached half a TTL before it is recorded
	// active: its TTL ends first.
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	c1 := mustActiveCipher(t, s, "acme", "patients", "name")
	v, err := other.Rotate(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Within both TTLs: version 1, as Active says.
	clock.Advance(30*time.Second - time.Nanosecond)
	if c := mustActiveCipher(t, s, "acme", "patients", "name"); c != c1 {
		t.Fatalf("ActiveCipher within the TTL = version %d, want the cached version 1", c.Version())
	}
	if k, _ := s.active(ctxb, "acme"); k.Version() != 1 {
		t.Fatalf("Active within the TTL = version %d, want 1", k.Version())
	}
	// The key's TTL passes first; an open refreshes it. The active record
	// is still fresh, and names version 1.
	clock.Advance(time.Nanosecond)
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
		t.Fatal(err)
	}
	if c := mustActiveCipher(t, s, "acme", "patients", "name"); c != c1 {
		t.Fatalf("ActiveCipher with the active record fresh = version %d, want 1", c.Version())
	}
	misses := s.Stats().Misses
	// Now the active record's TTL passes, the key's does not: the table
	// is read again, and names version 2.
	clock.Advance(30 * time.Second)
	c2 := mustActiveCipher(t, s, "acme", "patients", "name")
	if c2.Version() != v {
		t.Fatalf("ActiveCipher past the active record's TTL = version %d, want %d", c2.Version(), v)
	}
	if st := s.Stats(); st.Misses != misses+1 {
		t.Fatalf("Stats().Misses = %d, want %d: one read of the table", st.Misses, misses+1)
	}
	if c := mustActiveCipher(t, s, "acme", "patients", "name"); c != c2 {
		t.Fatalf("ActiveCipher after the refresh is not the new version's")
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers, want 1", n)
	}
}

// TestStoreActiveCipherExpiry: past the TTL the index does not answer;
// the refresh keeps the Key and renews the record, so the same cipher
// comes back, from the index again afterwards.
func TestStoreActiveCipherExpiry(t *testing.T) {
	_, _, s, clock := acmeInTable(t, WithTuning(Tuning{CacheTTL: time.Minute}))
	c := mustActiveCipher(t, s, "acme", "patients", "name")
	clock.Advance(time.Minute - time.Nanosecond)
	if c2 := mustActiveCipher(t, s, "acme", "patients", "name"); c2 != c || s.Stats().KMSUnwraps != 1 {
		t.Fatalf("ActiveCipher within the TTL asked the KMS or changed cipher")
	}
	clock.Advance(time.Nanosecond)
	if c2 := mustActiveCipher(t, s, "acme", "patients", "name"); c2 != c {
		t.Fatalf("ActiveCipher after the refresh = %p, want the same cipher %p", c2, c)
	}
	if st := s.Stats(); st.KMSUnwraps != 2 || st.Misses != 2 || st.Hits != 1 {
		t.Fatalf("Stats() after the TTL = %+v, want 2 unwraps, 2 misses, 1 hit", st)
	}
	mustActiveCipher(t, s, "acme", "patients", "name")
	if st := s.Stats(); st.KMSUnwraps != 2 || st.Hits != 2 {
		t.Fatalf("Stats() after the refresh = %+v, want a hit without unwrap", st)
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers, want 1", n)
	}
}

// TestStoreActiveCipherStale: with the KMS down past the TTL, the index
// serves within the stale grace, counted as stale, and not after it.
func TestStoreActiveCipherStale(t *testing.T) {
	drv, _, s, clock := acmeInTable(t, WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{StaleGrace: 10 * time.Minute}), WithTuning(Tuning{KMSAttempts: 1, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}))
	c := mustActiveCipher(t, s, "acme", "patients", "name")
	drv.setDown(retryable())
	defer drv.setDown(nil)
	clock.Advance(time.Minute)
	for i := range 3 {
		if c2, err := s.ActiveCipher(ctxb, "acme", "patients", "name"); err != nil || c2 != c {
			t.Fatalf("ActiveCipher #%d in the grace = %v; want the expired key's cipher", i, err)
		}
	}
	// One stale serve by the failed refresh, two from the index.
	if st := s.Stats(); st.StaleServed != 3 || st.KMSUnwraps != 2 || st.Hits != 0 || st.Misses != 2 {
		t.Fatalf("Stats() in the grace = %+v, want 3 stale, 2 unwraps, 0 hits, 2 misses", st)
	}
	clock.Advance(10 * time.Minute)
	if _, err := s.ActiveCipher(ctxb, "acme", "patients", "name"); !isKMSError(err) {
		t.Fatalf("ActiveCipher after the grace = %v, want the KMS error", err)
	}
	if n := activeIndexed(t, s); n != 0 {
		t.Fatalf("active index holds %d ciphers after the key was dropped, want 0", n)
	}
}

// TestStoreActiveCipherEvicted: an evicted key leaves the active index
// with its record, and a reload indexes the new key's cipher.
func TestStoreActiveCipherEvicted(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{CacheMaxKeys: 1}))
	c1 := mustActiveCipher(t, s, "t1", "patients", "name")
	sealed, _ := c1.Seal(nil, []byte("kept"))
	held := s.cache.actives.lookup("t1")
	mustActiveCipher(t, s, "t2", "patients", "name")
	if held.rec.exp.Load() != retiredExp {
		t.Fatalf("the evicted key's active record is not retired")
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers after eviction, want t2's 1", n)
	}
	c1b := mustActiveCipher(t, s, "t1", "patients", "name")
	if c1b == c1 {
		t.Fatalf("ActiveCipher(t1) after eviction = the evicted key's cipher")
	}
	if pt, err := c1b.Open(nil, sealed); err != nil || string(pt) != "kept" {
		t.Fatalf("reloaded cipher cannot open = %v", err)
	}
	if st := s.Stats(); st.Evictions != 2 || st.Cached != 1 {
		t.Fatalf("Stats() = %+v, want 2 evictions, 1 cached", st)
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers, want 1", n)
	}
}

// TestStoreActiveCipherReplaced: when a refresh (here by an open) finds
// another data key in the table under the active version, the old key's
// cipher leaves the active index at once, and the active record, fresh in
// its own right, names the new key.
func TestStoreActiveCipherReplaced(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	if _, err := creator.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}))
	// The key is cached before the active record: its TTL ends first.
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	old := mustActiveCipher(t, s, "acme", "patients", "name")
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
	clock.Advance(30 * time.Second)
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
		t.Fatal(err)
	}
	if n := activeIndexed(t, s); n != 0 {
		t.Fatalf("active index holds %d ciphers after the key was replaced, want 0", n)
	}
	misses := s.Stats().Misses
	c := mustActiveCipher(t, s, "acme", "patients", "name")
	if c == old || c.Version() != 1 {
		t.Fatalf("ActiveCipher after the key was replaced = the old key's cipher")
	}
	if st := s.Stats(); st.Misses != misses {
		t.Fatalf("ActiveCipher with the active record fresh read the table")
	}
	v, _ := c.Seal(nil, []byte("x"))
	if _, err := old.Open(nil, v); err == nil {
		t.Fatalf("the old key's cipher opened a value of the new key")
	}
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers, want 1", n)
	}
}

// TestStoreActiveCipherShredClose: Shred and Close end the index's
// answers at once; forgetting the tenant's views ends them until the
// table is read again.
func TestStoreActiveCipherShredClose(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{StaleGrace: time.Hour}))
	for _, tn := range []string{"acme", "globex", "initech"} {
		mustActiveCipher(t, s, tn, "patients", "name")
	}
	held := s.cache.actives.lookup("acme")
	if err := s.Shred(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	if held.rec.exp.Load() != retiredExp {
		t.Fatalf("the shredded tenant's active record is not retired")
	}
	if _, err := s.ActiveCipher(ctxb, "acme", "patients", "name"); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("ActiveCipher after Shred = %v, want ErrKeyDestroyed", err)
	}
	mustActiveCipher(t, s, "globex", "patients", "name")
	if n := activeIndexed(t, s); n != 2 {
		t.Fatalf("active index holds %d ciphers after Shred, want 2", n)
	}

	s.cache.forgetTenantViews("initech")
	if n := activeIndexed(t, s); n != 1 {
		t.Fatalf("active index holds %d ciphers after forgetTenantViews, want 1", n)
	}
	misses := s.Stats().Misses
	mustActiveCipher(t, s, "initech", "patients", "name")
	if st := s.Stats(); st.Misses != misses+1 {
		t.Fatalf("ActiveCipher after forgetTenantViews did not read the table")
	}

	held = s.cache.actives.lookup("globex")
	s.Close()
	if held.rec.exp.Load() != retiredExp {
		t.Fatalf("an active record survived Close")
	}
	if _, err := s.ActiveCipher(ctxb, "globex", "patients", "name"); !errors.Is(err, ErrClosed) {
		t.Fatalf("ActiveCipher after Close = %v, want ErrClosed", err)
	}
	if n := activeIndexed(t, s); n != 0 {
		t.Fatalf("active index holds %d ciphers after Close, want 0", n)
	}
}

// TestHitCountsExact counts from many goroutines into the stripes and
// checks the sum, and the stripe count's bounds.
func TestHitCountsExact(t *testing.T) {
	for procs, want := range map[int]int{1: minHitStripes, 4: minHitStripes, 5: 32, 64: maxHitStripes, 1000: maxHitStripes} {
		h := newHitCounts(procs)
		if len(h.stripes) != want || 1<<(64-h.shift) != want {
			t.Fatalf("newHitCounts(%d): %d stripes, shift %d; want %d", procs, len(h.stripes), h.shift, want)
		}
	}
	h := newHitCounts(4)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				h.add(i%(g+2) == 0)
			}
		})
	}
	wg.Wait()
	var wantStale uint64
	for g := range 16 {
		wantStale += uint64((1000 + g + 1) / (g + 2))
	}
	if hits, stale := h.sum(); hits+stale != 16000 || stale != wantStale {
		t.Fatalf("sum() = %d hits, %d stale; want %d, %d", hits, stale, 16000-wantStale, wantStale)
	}
}

// TestStoreActiveCipherConcurrent runs ActiveCipher and Cipher on many
// goroutines while the cache evicts, a tenant is rotated and another
// shredded, for -race; checks that every cipher handed out is its
// tenant's; then, on a warm cache, that the hit count is exact.
func TestStoreActiveCipherConcurrent(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{CacheMaxKeys: 4}))
	tenants := []string{"a", "b", "c", "d", "e", "f"}
	for _, tn := range tenants {
		mustActiveCipher(t, s, tn, "patients", "name")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				tn := tenants[(g+i)%len(tenants)]
				c, err := s.ActiveCipher(ctxb, tn, "patients", "name")
				// Evicted between Active and Key.Cipher: ask again, as
				// callers do. And f is being shredded.
				if errors.Is(err, ErrKeyEvicted) || tn == "f" && errors.Is(err, ErrKeyDestroyed) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("ActiveCipher(%s) = %w", tn, err)
					return
				}
				v, _ := c.Seal(nil, []byte(tn))
				oc, err := s.Cipher(ctxb, tn, c.Version(), "patients", "name")
				if errors.Is(err, ErrKeyEvicted) || tn == "f" && errors.Is(err, ErrKeyDestroyed) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("Cipher(%s, %d) = %w", tn, c.Version(), err)
					return
				}
				if pt, err := oc.Open(nil, v); err != nil || string(pt) != tn {
					errs <- fmt.Errorf("ActiveCipher(%s) sealed a value its version opens as %q, %v", tn, pt, err)
					return
				}
			}
		})
	}
	if _, err := s.Rotate(ctxb, "e"); err != nil {
		t.Fatal(err)
	}
	if err := s.Shred(ctxb, "f"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := s.ActiveCipher(ctxb, "f", "patients", "name"); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("ActiveCipher(f) after Shred = %v, want ErrKeyDestroyed", err)
	}
	if n, cached := activeIndexed(t, s), s.Stats().Cached; n > cached {
		t.Fatalf("active index holds %d ciphers for %d cached keys of one column", n, cached)
	}

	// Warm, in a cache that holds every key: every call a hit, every hit
	// counted.
	s = newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
	warm := tenants[:5]
	for _, tn := range warm {
		mustActiveCipher(t, s, tn, "patients", "name")
	}
	before := s.Stats()
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				tn := warm[(g+i)%len(warm)]
				if _, err := s.ActiveCipher(ctxb, tn, "patients", "name"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	after := s.Stats()
	if after.Hits-before.Hits != 8*500 || after.Misses != before.Misses || after.StaleServed != before.StaleServed {
		t.Fatalf("Stats() counted %d hits, %d misses, %d stale for %d warm calls", after.Hits-before.Hits,
			after.Misses-before.Misses, after.StaleServed-before.StaleServed, 8*500)
	}
}
