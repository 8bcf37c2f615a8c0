package keystore

import (
	"hash/maphash"
	"math"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// The seal path asks for the column cipher of a tenant's active key on
// every value. The locked way, cache.active then Key.Cipher, takes the
// cache's read lock: two atomic writes to the one reader count that every
// core shares, which with a few goroutines per core costs more than the
// AES-GCM of a small value. So the cache also keeps an activeIndex,
// c.actives, mapping a tenant to its active key, read without a lock like
// the index of versions; the column's cipher is then found in the key's
// own list of ciphers (Key.Cipher's, read without a lock too). Without it
// a parallel seal on two cores was 1.46x raw AES-GCM instead of 1.24x
// (docs/ARCHITECTURE.md, "Concurrency in the cache").
//
// One ref per tenant, not per (tenant, table, column) as in the index of
// versions: a ref per column cost 61 bytes of each cached tenant-column
// (the 48-byte ref and its share of the table), a sixth of what a column
// costs beyond its AES-GCM state. The price is on the lookup: the scan
// filters the key's ciphers by their 16-bit column tags and confirms a
// match against the cipher's associated data, byte by byte, which costs
// a warm ActiveCipher 12-20 ns more than the chain walk it replaced, for
// 1 to 16 columns (BENCHMARKS.md, "Run 5").
//
// A ref there must stop answering exactly when cache.active would stop
// returning its key: when the active record expires (its own TTL, so that
// a rotation by another process is seen), when another version becomes
// active, when the record is dropped (Shred, eviction, Close,
// forgetTenantViews), and when the key expires or is zeroed. The key's
// part the reader checks as for a version ref (the entry's freshness, the
// key's cleared bit). The record's part is the activeRecord: its expiry
// is atomic, the reader checks it, and the writer that replaces or drops
// the record sets it to retired and removes the record's ref in the
// same critical section.

// activeRecord is a tenant's active version as the cache knows it: the
// entry of the active key, fresh before exp. A renewal of the same
// version (after the TTL, the table still saying so) moves exp; any other
// change replaces the record, retiring the old one for good. Its entry
// never changes.
type activeRecord struct {
	entry *entry
	exp   atomic.Int64 // ticks; retiredExp once replaced or dropped
}

// retiredExp is the expiry of a retired record: no tick is before it.
const retiredExp = math.MinInt64

// activeIndex maps a tenant to its active record and key. It works as
// cipherIndex does (see there): readers load, writers hold cache.mu,
// nodes are immutable once published and copied on removal and growth.
type activeIndex struct {
	seed  maphash.Seed
	table atomic.Pointer[activeTable]
	n     int // refs held; under cache.mu
}

type activeTable = chainTable[activeRef]

// activeRef is a tenant's entry in the activeIndex: 32 bytes. Its tenant
// is its key's.
type activeRef struct {
	hash uint64
	rec  *activeRecord // the record it was published under
	// key is rec's entry's key when published: a reader that loaded the
	// ref before the entry's key was replaced finds this one zeroed.
	key  *dataKey
	next *activeRef
}

func newActiveIndex() *activeIndex {
	x := &activeIndex{seed: maphash.MakeSeed()}
	x.table.Store(newActiveTable(minCipherChains))
	return x
}

func newActiveTable(n int) *activeTable { return newChainTable[activeRef](n) }

// lookup returns the tenant's ref, or nil.
func (x *activeIndex) lookup(tenant string) *activeRef {
	h := maphash.String(x.seed, tenant)
	t := x.table.Load()
	for r := t.chains[h&t.mask].Load(); r != nil; r = r.next {
		if r.hash == h && r.key.tenant == tenant {
			return r
		}
	}
	return nil
}

// insert publishes the ref of rec and its key k unless the tenant has
// one, and reports whether it did. The caller holds cache.mu and has
// checked that rec is the tenant's active record and k its key; a ref
// already there is of rec, since retiring a record removes its ref.
func (x *activeIndex) insert(rec *activeRecord, k *dataKey) bool {
	h := maphash.String(x.seed, k.tenant)
	t := x.table.Load()
	head := &t.chains[h&t.mask]
	for o := head.Load(); o != nil; o = o.next {
		if o.hash == h && o.key.tenant == k.tenant {
			return false
		}
	}
	head.Store(&activeRef{hash: h, rec: rec, key: k, next: head.Load()})
	x.n++
	if x.n > len(t.chains) {
		x.table.Store(t.grown(func(r *activeRef) uint64 { return r.hash }, func(r *activeRef) **activeRef { return &r.next }))
	}
	return true
}

// remove drops the ref published under rec, if there is one. The caller
// holds cache.mu.
func (x *activeIndex) remove(rec *activeRecord) {
	tenant := rec.entry.key.tenant
	h := maphash.String(x.seed, tenant)
	t := x.table.Load()
	head := &t.chains[h&t.mask]
	first := head.Load()
	var target *activeRef
	for r := first; r != nil; r = r.next {
		if r.rec == rec {
			target = r
			break
		}
	}
	if target == nil {
		return
	}
	head.Store(unlinked(first, target, func(r *activeRef) **activeRef { return &r.next }))
	x.n--
}

// reset empties the index. The caller holds cache.mu.
func (x *activeIndex) reset() {
	x.table.Store(newActiveTable(minCipherChains))
	x.n = 0
}

// activeCipher returns the cipher of the tenant's active key for
// table.column if the active record and the key are fresh at now and the
// key has handed that cipher out: what cache.active followed by
// Key.Cipher would return, without a lock. It marks the key's entry used,
// as a locked hit would.
func (c *cache) activeCipher(tenant, table, column string, now int64) (ci *cipher.Cipher, stale, ok bool) {
	r := c.actives.lookup(tenant)
	if r == nil || now >= r.rec.exp.Load() {
		return nil, false, false
	}
	e := r.rec.entry
	exp, stale := e.fresh.load()
	if now >= exp || r.key.zeroed() {
		return nil, false, false
	}
	if ci = findCipher(r.key.st.ciphers.Load(), table, column); ci == nil {
		return nil, false, false
	}
	e.touch()
	return ci, stale, true
}

// indexActive publishes the tenant's ref in the index of active keys, if
// k is still the key of the tenant's active record.
func (c *cache) indexActive(k *dataKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	te := c.tenants[k.tenant]
	if te == nil || te.active == nil || te.active.entry.key != k {
		return
	}
	c.actives.insert(te.active, k)
}

// setActiveLocked records e as the tenant's active entry until exp:
// renewing the record if it already names e, else replacing it.
func (c *cache) setActiveLocked(te *tenantEntry, e *entry, exp int64) {
	if rec := te.active; rec != nil && rec.entry == e {
		rec.exp.Store(exp)
		return
	}
	c.retireActiveLocked(te)
	rec := &activeRecord{entry: e}
	rec.exp.Store(exp)
	te.active = rec
}

// retireActiveLocked drops the tenant's active record, if any: readers
// holding its ref see it retired, and the index loses the ref.
func (c *cache) retireActiveLocked(te *tenantEntry) {
	rec := te.active
	if rec == nil {
		return
	}
	rec.exp.Store(retiredExp)
	c.actives.remove(rec)
	te.active = nil
}
