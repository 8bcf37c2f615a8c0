package keystore

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// TestCacheBytesEvicts: with Tuning.CacheMaxBytes the cache stays within its
// bound in bytes, keys and ciphers counted, by evicting (and zeroing)
// the least recently used keys, while its bound in entries is far off;
// the cipher indexes drop the evicted keys' ciphers.
func TestCacheBytesEvicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		const perTenant = keyBytes + 2*cipherBytes
		bound := int64(3 * perTenant)
		s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), WithTuning(Tuning{CacheMaxKeys: 1000}), WithTuning(Tuning{CacheMaxBytes: bound}))
		var first *dataKey
		for i := range 10 {
			tn := fmt.Sprintf("t%d", i)
			for _, col := range []string{"name", "email"} {
				c, err := s.ActiveCipher(ctxb, tn, "patients", col)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Seal(nil, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if i == 0 {
				k, err := s.active(ctxb, tn)
				if err != nil {
					t.Fatal(err)
				}
				first = k
			}
			st := s.Stats()
			if st.CachedBytes > bound || st.Cached > 3 {
				t.Fatalf("after tenant %d: %d keys, %d bytes cached; want at most 3 keys, %d bytes", i, st.Cached, st.CachedBytes, bound)
			}
		}
		st := s.Stats()
		if st.Cached != 3 || st.CachedBytes != bound || st.Evictions != 7 {
			t.Fatalf("Stats() = %+v, want 3 keys, %d bytes, 7 evictions", st, bound)
		}
		if _, err := first.Cipher("patients", "phone"); !errors.Is(err, ErrKeyEvicted) {
			t.Fatalf("Cipher of an evicted key = %v, want ErrKeyEvicted", err)
		}
		if n := activeIndexed(t, s); n != 6 {
			t.Fatalf("active index holds %d ciphers, want 6 (3 tenants × 2 columns)", n)
		}
	})
}

// TestCacheBytesCountsCiphers: a cipher derived through Key.Cipher is
// accounted too, and evicts another key when it passes the bound; a key
// whose ciphers alone pass it stays cached.
func TestCacheBytesCountsCiphers(t *testing.T) {
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), WithTuning(Tuning{CacheMaxBytes: 2*keyBytes + cipherBytes}))
	a, err := s.active(ctxb, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.active(ctxb, "b"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Cached != 2 || st.CachedBytes != 2*keyBytes {
		t.Fatalf("two keys: Stats() = %+v", st)
	}
	if _, err := a.Cipher("t", "c1"); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Cached != 2 || st.CachedBytes != 2*keyBytes+cipherBytes {
		t.Fatalf("one cipher: Stats() = %+v", st)
	}
	for _, col := range []string{"c2", "c3"} {
		if _, err := a.Cipher("t", col); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Cached != 1 || st.CachedBytes != keyBytes+3*cipherBytes || st.Evictions != 1 {
		t.Fatalf("three ciphers of a: Stats() = %+v, want a alone, over the bound", st)
	}
	if _, err := a.Cipher("t", "c1"); err != nil {
		t.Fatalf("the key in use was evicted: %v", err)
	}
}

func TestCacheBytesValidated(t *testing.T) {
	tdb := sqliteOnly(t)
	_, err := New(tdb.db, newInsecureTestKMS(t).keeper(testKEK), append(tdb.opts(), WithTuning(Tuning{CacheMaxBytes: -1}))...)
	if err == nil || err.Error() != "keystore: cache bytes must not be negative, got -1" {
		t.Fatalf("New(WithTuning(Tuning{CacheMaxBytes: -1})) = %v", err)
	}
}

// TestCacheBytesConcurrent: goroutines sealing and opening across more
// tenants than the bound in bytes holds leave the cache within it, with
// its accounted size the sum over its entries and every entry charged
// for exactly the ciphers its key handed out. Run it under -race.
func TestCacheBytesConcurrent(t *testing.T) {
	tdb := sqliteOnly(t)
	const perTenant = keyBytes + 3*cipherBytes
	bound := int64(5 * perTenant)
	s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), WithTuning(Tuning{CacheMaxBytes: bound}))
	cols := []string{"name", "email", "phone"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 150 {
				tn := fmt.Sprintf("t%d", (g*7+i)%20)
				col := cols[i%len(cols)]
				if err := sealOpenRetry(s, tn, col); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	keys := 0
	for _, te := range c.tenants {
		for _, e := range te.versions {
			if n := len(e.key.cipherList()); int(e.charged) != n {
				t.Errorf("entry of %s version %d charged for %d ciphers, its key has %d", e.key.tenant, e.key.version, e.charged, n)
			}
			sum += keyBytes + int64(e.charged)*cipherBytes
			keys++
		}
	}
	if keys != c.n {
		t.Fatalf("cache counts %d keys, holds %d", c.n, keys)
	}
	if c.bytes != sum || c.bytes > bound {
		t.Fatalf("cache accounts %d bytes, its entries %d, bound %d", c.bytes, sum, bound)
	}
}

// sealOpenRetry seals a value in the tenant's column and opens it by
// version, asking again after ErrKeyEvicted as the package doc says: a
// key can be evicted between Active and Key.Cipher.
func sealOpenRetry(s *Store, tenant, col string) error {
	var err error
	for range 5 {
		var c *cipher.Cipher
		if c, err = s.ActiveCipher(ctxb, tenant, "patients", col); err != nil {
			if errors.Is(err, ErrKeyEvicted) {
				continue
			}
			return err
		}
		v, err := c.Seal(nil, []byte("x"))
		if err != nil {
			return err
		}
		o, err := s.Cipher(ctxb, tenant, c.Version(), "patients", col)
		if errors.Is(err, ErrKeyEvicted) {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := o.Open(nil, v); err != nil {
			return err
		}
		return nil
	}
	return err
}
