package keystore

import (
	"hash/maphash"
	"math/rand/v2"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/namehash"
)

// cipherIndex maps (tenant, version, table, column) straight to the
// column cipher of a cached key: the hot path of Store.Cipher, which sits
// on every open. A lookup hashes the three strings once and takes no
// lock, so concurrent readers write nothing shared (the hit counts are
// striped: see hitCounts). The way it replaces, Store.lookupKey then
// Key.Cipher, took the cache's read lock (two atomic writes to one reader
// count, a cache line every core contends for) and three map lookups, one
// keyed by a struct of two strings, which Go hashes slowly: together a
// third of a warm open. It still pays where cores contend: with the
// locked path instead, and the active index and striped counters gone
// too, a parallel open on two cores took 1.85x raw AES-GCM instead of
// 1.46x; one goroutine alone gains nothing (BenchmarkConcIndex; see
// docs/ARCHITECTURE.md, "Concurrency in the cache").
//
// Readers load; writers hold cache.mu. Every chain node is immutable once
// published (read-copy-update): an insert pushes a new node at a chain's
// head, a removal republishes copies of the nodes in front of the removed
// one, and growing builds a new table of copies and swaps it in. A
// reader thus always walks a consistent chain, old or new, and the
// garbage collector frees what no reader holds.
//
// The cache keeps a second index, of the tenants' active keys, by tenant
// alone; see activeindex.go.
//
// The index holds a ref only while its key is the cached key of its id:
// the cache removes an entry's refs in the same critical section that
// zeroes or replaces its key. Freshness is not the index's business: a
// ref outlives its key's TTL, and the reader checks the entry's expiry.
type cipherIndex struct {
	seed  maphash.Seed
	keys  [3]uint64 // nameHash's, random per index
	table atomic.Pointer[cipherTable]
	n     int // refs held; under cache.mu
}

// cipherTable is a power-of-two array of chains.
type cipherTable = chainTable[cipherRef]

// cipherRef is one indexed cipher: 80 bytes. All fields are set before
// the ref is published and never written after. Its tenant and version
// are its key's; its table and column it keeps itself, though its cipher
// holds them too (in its associated data, where reading them back costs
// a warm open about 5 ns more than these two string compares): only a
// column opened by version has a ref, while every column has a cipher.
type cipherRef struct {
	hash          uint64
	cipher        *cipher.Cipher
	key           *dataKey // the cipher's key: the ref is void once it is zeroed
	entry         *entry   // the key's cache entry, for its expiry and reference bit
	next          *cipherRef
	table, column string
}

// version returns the version r is indexed under, its key's.
func (r *cipherRef) version() uint32 { return r.key.version }

const minCipherChains = 64

func newCipherIndex() *cipherIndex {
	x := &cipherIndex{seed: maphash.MakeSeed(), keys: [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}}
	x.table.Store(newCipherTable(minCipherChains))
	return x
}

func newCipherTable(n int) *cipherTable { return newChainTable[cipherRef](n) }

// hash hashes a ref's identity. The tenant, which may come from outside,
// gets maphash, seeded per index, so tenant names cannot be chosen to
// collide. The table and column are the application's schema, short and
// not chosen by users: they get nameHash, which costs a third of two more
// maphash calls, a difference that shows in a warm open. Multiplying the
// version by an odd constant keeps a column's versions in different
// chains.
func (x *cipherIndex) hash(tenant string, version uint32, table, column string) uint64 {
	const odd = 0x9e3779b97f4a7c15
	return maphash.String(x.seed, tenant) ^ uint64(version)*odd ^
		nameHash(table, x.keys[0], x.keys[2]) ^ nameHash(column, x.keys[1], x.keys[2])
}

// nameHash is a seeded hash of every byte of s (namehash.Words), inlined
// into the lookup's own code where the compiler allows.
func nameHash(s string, seed, key uint64) uint64 {
	return namehash.Words(s, seed, key, key^seed)
}

// lookup returns the ref of (tenant, version, table, column), or nil.
func (x *cipherIndex) lookup(tenant string, version uint32, table, column string) *cipherRef {
	h := x.hash(tenant, version, table, column)
	t := x.table.Load()
	for r := t.chains[h&t.mask].Load(); r != nil; r = r.next {
		if r.hash == h && r.version() == version && r.is(tenant, table, column) {
			return r
		}
	}
	return nil
}

// is reports whether r's cipher is of tenant, table and column.
func (r *cipherRef) is(tenant, table, column string) bool {
	return r.column == column && r.table == table && r.key.tenant == tenant
}

// add indexes c as the cipher of e's key for table.column, unless a ref
// for it is there already, and reports whether it added one. The caller
// holds cache.mu and has checked that e is cached with key k.
func (x *cipherIndex) add(e *entry, k *dataKey, table, column string, c *cipher.Cipher) bool {
	return x.insert(k.tenant, k.version, table, column, &cipherRef{cipher: c, key: k, entry: e, table: table, column: column})
}

// insert publishes r, the ref of (tenant, version, table, column), at
// the head of its chain unless a ref of the same identity is there.
func (x *cipherIndex) insert(tenant string, version uint32, table, column string, r *cipherRef) bool {
	h := x.hash(tenant, version, table, column)
	t := x.table.Load()
	head := &t.chains[h&t.mask]
	for o := head.Load(); o != nil; o = o.next {
		if o.hash == h && o.version() == version && o.is(tenant, table, column) {
			return false
		}
	}
	r.hash, r.next = h, head.Load()
	head.Store(r)
	x.n++
	if x.n > len(t.chains) {
		x.grow(t)
	}
	return true
}

// grow publishes a table twice the size of t holding copies of its refs.
func (x *cipherIndex) grow(t *cipherTable) {
	x.table.Store(t.grown(func(r *cipherRef) uint64 { return r.hash }, func(r *cipherRef) **cipherRef { return &r.next }))
}

// remove drops the ref of (k's id, table, column) if there is one. The
// caller holds cache.mu.
func (x *cipherIndex) remove(k *dataKey, table, column string) {
	tenant, version := k.tenant, k.version
	h := x.hash(tenant, version, table, column)
	t := x.table.Load()
	head := &t.chains[h&t.mask]
	first := head.Load()
	var target *cipherRef
	for r := first; r != nil; r = r.next {
		if r.key == k && r.version() == version && r.is(tenant, table, column) {
			target = r
			break
		}
	}
	if target == nil {
		return
	}
	head.Store(unlinked(first, target, func(r *cipherRef) **cipherRef { return &r.next }))
	x.n--
}

// reset empties the index. The caller holds cache.mu.
func (x *cipherIndex) reset() {
	x.table.Store(newCipherTable(minCipherChains))
	x.n = 0
}
