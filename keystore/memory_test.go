package keystore

import (
	"context"
	"crypto/aes"
	stdcipher "crypto/cipher"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/handscoped"
	"github.com/colcrypt/colcrypt/internal/secret"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// The memory a warm tenant costs, as issue measurements take it: the
// heap's growth (live bytes after a collection) while a Store with a
// local master key and a sqldialect.SQLite key table seals one value in each of a
// few randomized columns for many tenants, divided by tenants × columns.
// It includes everything the Store keeps per tenant (the key, its cache
// entry, the cipher indexes, the version marks) and the key table's
// growth in sqldialect.SQLite's page cache, which is bounded.

// memStore returns a Store on a fresh sqldialect.SQLite key table with a local
// master key, sized to cache tenants keys.
func memStore(tb testing.TB, tenants int, opts ...Option) *Store {
	tb.Helper()
	dir := tb.TempDir()
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		tb.Fatal(err)
	}
	kek, err := kms.Open(context.Background(), localkms.FileURL(keyFile, "k1"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { kek.Close() })
	// synchronous(OFF): the measurement is of memory, and 20,000 key
	// inserts each waiting for a sync would take minutes.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "keys.db")+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	if err := CreateTable(context.Background(), db, WithDialect("sqlite")); err != nil {
		tb.Fatal(err)
	}
	// A TTL longer than any run: on a loaded machine the benchmark has
	// taken more than the default 5 minutes, and keys the janitor drops
	// mid-measurement make every figure after them wrong.
	s, err := New(db, kek, append([]Option{WithDialect("sqlite"), WithTuning(Tuning{CacheMaxKeys: tenants, CacheTTL: 24 * time.Hour})}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// cachedColumnBytes seals a value in columns randomized columns for
// tenants tenants and returns the heap growth per tenant-column.
func cachedColumnBytes(tb testing.TB, s *Store, tenants, columns int) float64 {
	tb.Helper()
	ctx := context.Background()
	cols := make([]string, columns)
	for i := range cols {
		cols[i] = fmt.Sprintf("col_%d", i)
	}
	names := make([]string, tenants)
	for i := range names {
		names[i] = fmt.Sprintf("tenant-%06d", i)
	}
	pt := []byte("ann@example.com")
	// One tenant first, so that the growth below counts tenants, not the
	// pools, statements and tables a first call makes.
	warm := func(tenant string) {
		for _, col := range cols {
			c, err := s.ActiveCipher(ctx, tenant, "patients", col)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := c.Seal(nil, pt); err != nil {
				tb.Fatal(err)
			}
		}
	}
	warm("warm-up")
	before := liveHeap()
	for _, t := range names {
		warm(t)
	}
	after := liveHeap()
	runtime.KeepAlive(names)
	return float64(int64(after)-int64(before)) / float64(tenants*columns)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// maxTenantColumnBytes bounds the heap per cached tenant-column of a
// randomized column over 2,000 tenants × 4 columns, where sqldialect.SQLite's page
// cache weighs more than over 20,000. It was 3.3 KB when each column's
// cipher built its AES-SIV and blind-index state up front and each key
// kept a map of its ciphers, 1,418 bytes when each cipher still derived
// and kept its SIV and blind-index subkey bytes, and 1,212 when a cipher
// kept its scope twice and a lock it rarely needs, the index of active
// ciphers held a ref per column and the cache a second map of keys; it
// is 1,041.
const maxTenantColumnBytes = 1100

// TestCachedTenantColumnHeap: the heap a warm tenant-column costs stays
// within maxTenantColumnBytes.
func TestCachedTenantColumnHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds to every allocation")
	}
	const tenants, columns = 2000, 4
	s := memStore(t, tenants)
	if per := cachedColumnBytes(t, s, tenants, columns); per > maxTenantColumnBytes {
		t.Fatalf("a cached tenant-column costs %.0f bytes of heap, want at most %d", per, maxTenantColumnBytes)
	} else {
		t.Logf("%.0f bytes per cached tenant-column", per)
	}
}

// BenchmarkCachedTenantColumnBytes reports the heap a cached
// tenant-column of a randomized column costs, over 20,000 tenants × 4
// columns. It measures memory, not time: run it once,
//
//	go test -run='^$' -bench=CachedTenantColumnBytes -benchtime=1x ./keystore/
//
// In the same run it reports what the figure is made of and two floors,
// measured the same way over as many tenant-columns: "gcm-B/each", an
// AES-256-GCM AEAD alone (aes.NewCipher and cipher.NewGCM, as
// cipher.Cipher builds it); "cipher-B/each", a cipher.Cipher of a
// randomized column after one seal, many of them sharing one data key as
// a tenant's columns do (the AEAD and what colcrypt keeps around it);
// and "handscoped-B/tenant-column", the hand-written baseline of the
// database benchmarks (internal/handscoped: that AEAD, its associated
// data and a map entry per (tenant, table, column)), the least a design
// that keeps one AES-GCM key per tenant-column holds.
func BenchmarkCachedTenantColumnBytes(b *testing.B) {
	const tenants, columns = 20_000, 4
	var per, gcm, ciphers, scoped float64
	for b.Loop() {
		b.StopTimer()
		s := memStore(b, tenants)
		b.StartTimer()
		per = cachedColumnBytes(b, s, tenants, columns)
		gcm = gcmStateBytes(b, tenants*columns)
		ciphers = cipherStateBytes(b, tenants, columns)
		scoped = handScopedBytes(b, tenants, columns)
	}
	b.ReportMetric(per, "B/tenant-column")
	b.ReportMetric(per*columns, "B/tenant")
	b.ReportMetric(gcm, "gcm-B/each")
	b.ReportMetric(ciphers, "cipher-B/each")
	b.ReportMetric(scoped, "handscoped-B/tenant-column")
}

// cipherStateBytes returns the heap growth per cipher.Cipher of tenants
// × columns built and kept after one seal each, each tenant's columns
// sharing one data key, with the names made before the first reading.
// The data keys are made before it too: they are the tenant's share, not
// the column's.
func cipherStateBytes(tb testing.TB, tenants, columns int) float64 {
	tb.Helper()
	deks := make([]*secret.Shared, tenants)
	scopes := make([]codec.Scope, 0, tenants*columns)
	for i := range tenants {
		dek := make([]byte, cipher.DEKSize)
		dek[0], dek[1], dek[2] = byte(i), byte(i>>8), byte(i>>16)
		deks[i] = secret.NewShared(dek)
		for j := range columns {
			scopes = append(scopes, codec.Scope{Tenant: fmt.Sprintf("tenant-%06d", i), Table: "patients", Column: fmt.Sprintf("col_%d", j)})
		}
	}
	cs := make([]*cipher.Cipher, len(scopes))
	pt := []byte("ann@example.com")
	before := liveHeap()
	for i, sc := range scopes {
		c, err := cipher.NewCipherShared(deks[i/columns], 1, sc)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := c.Seal(nil, pt); err != nil {
			tb.Fatal(err)
		}
		cs[i] = c
	}
	after := liveHeap()
	runtime.KeepAlive(cs)
	runtime.KeepAlive(deks)
	runtime.KeepAlive(scopes)
	return float64(int64(after)-int64(before)) / float64(len(cs))
}

// gcmStateBytes returns the heap growth per AES-256-GCM AEAD of n built
// and kept, each under its own key, as cipher.Cipher builds its one.
func gcmStateBytes(tb testing.TB, n int) float64 {
	tb.Helper()
	key := make([]byte, 32)
	aeads := make([]stdcipher.AEAD, n) // allocated before the first reading
	before := liveHeap()
	for i := range aeads {
		key[0], key[1], key[2] = byte(i), byte(i>>8), byte(i>>16)
		block, err := aes.NewCipher(key)
		if err != nil {
			tb.Fatal(err)
		}
		if aeads[i], err = stdcipher.NewGCM(block); err != nil {
			tb.Fatal(err)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(aeads)
	return float64(int64(after)-int64(before)) / float64(n)
}

// handScopedBytes returns the heap growth per (tenant, column) of the
// hand-written scoped baseline after one seal in each, with the names
// made before the first reading, as cachedColumnBytes makes them.
func handScopedBytes(tb testing.TB, tenants, columns int) float64 {
	tb.Helper()
	ctx := context.Background()
	scopes := make([]handscoped.Scope, 0, tenants*columns)
	for i := range tenants {
		for j := range columns {
			scopes = append(scopes, handscoped.Scope{Tenant: fmt.Sprintf("tenant-%06d", i), Table: "patients", Column: fmt.Sprintf("col_%d", j)})
		}
	}
	h := handscoped.New([]byte{0xC0, 1, 1}, nil)
	pt := []byte("ann@example.com")
	if _, err := h.Seal(ctx, handscoped.Scope{Tenant: "warm-up", Table: "patients", Column: "col_0"}, pt); err != nil {
		tb.Fatal(err)
	}
	before := liveHeap()
	for _, s := range scopes {
		if _, err := h.Seal(ctx, s, pt); err != nil {
			tb.Fatal(err)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(h)
	runtime.KeepAlive(scopes)
	return float64(int64(after)-int64(before)) / float64(len(scopes))
}
