package keystore

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// The cache holds unwrapped data keys. It is keyed by (tenant, version);
// beside the keys it remembers, per tenant, which version is active and
// which versions are live, each with its own expiry, so that a rotation
// or shred done by another process is seen within the TTL.
//
// Reads take only the read lock: a hit sets the entry's reference bit
// atomically, and eviction is CLOCK (second chance), the usual LRU
// approximation that needs no list surgery on a hit (a warm open takes
// 0.91-0.95 of the time it takes with an exact LRU's locked list move
// per hit on one core, 0.65-0.94 on two: BenchmarkConcEviction). The column ciphers
// that Store.Cipher hands out are also indexed by (tenant, version,
// table, column) in a cipherIndex that is read without any lock; an
// entry's expiry and stale mark are atomic for its sake. Those of the
// active keys, which Store.ActiveCipher hands out, have an index of their
// own keyed by (tenant, table, column); see activeindex.go. An expired
// entry stays, not yet zeroed, only as long as the stale grace may need
// it; then the janitor or the next access zeroes and drops it.
//
// Times are ticks: nanoseconds on the Store's clock since the Store was
// made (see clock.go), so that an expiry check is one integer compare.
type cache struct {
	mu sync.RWMutex
	// tenants holds the cached keys, by tenant then version (see
	// tenantEntry): no map keyed by (tenant, version) beside it, which
	// cost 66 bytes per cached key.
	tenants   map[string]*tenantEntry
	n         int                 // the cached keys
	destroyed map[string]struct{} // tenants seen shredded: never cached again
	hand      *entry              // CLOCK hand over the ring of entries; nil when empty
	capacity  int
	maxBytes  int64 // Tuning.CacheMaxBytes; 0: no bound
	bytes     int64 // the accounted size of the cached keys: see keyBytes
	closed    bool
	ciphers   *cipherIndex // ciphers by (tenant, version, table, column)
	actives   *activeIndex // active keys by tenant

	evictions *atomic.Uint64
}

type keyID struct {
	tenant  string
	version uint32
}

// entry is a cached key. Its id is its key's tenant and version (a key
// replaced under the same id keeps its entry): kept once, in the key, so
// that an entry is 48 bytes, not 80.
type entry struct {
	key        *dataKey
	fresh      freshness
	graceUntil int64  // may be served stale before this
	prev, next *entry // the CLOCK ring
	ref        atomic.Bool
	// charged is how many of the key's ciphers c.bytes accounts.
	charged int32
}

// freshness is an entry's expiry (fresh before it) and stale mark (kept
// past its expiry because the KMS failed), packed in one word so that the
// lock-free hot path reads the two together. Writers hold the cache's
// lock.
type freshness struct{ v atomic.Int64 }

func (f *freshness) load() (expires int64, stale bool) {
	v := f.v.Load()
	return v >> 1, v&1 != 0
}

func (f *freshness) store(expires int64, stale bool) {
	v := expires << 1
	if stale {
		v |= 1
	}
	f.v.Store(v)
}

type tenantEntry struct {
	// versions lists the tenant's cached keys' entries: a string-keyed
	// lookup then a scan of a tenant's few cached versions is faster
	// than a lookup keyed by a (string, uint32) struct, which Go hashes
	// slowly, and a list of one costs 8 bytes (in first) where a map of
	// one costs 190.
	versions []*entry
	// first is versions' backing array while it holds one entry, as it
	// does for most tenants: no allocation of its own.
	first  [1]*entry
	active *activeRecord // nil when unknown
	// live is nil when unknown. Behind a pointer, since only tenants
	// whose values are opened by version ask for it: a tenant entry is
	// 48 bytes, not 72 in two objects.
	live *liveVersions
}

// liveVersions is a tenant's live versions as the cache knows them.
type liveVersions struct {
	versions []uint32 // newest first
	exp      int64
}

func newCache(capacity int, maxBytes int64, evictions *atomic.Uint64) *cache {
	return &cache{
		maxBytes:  maxBytes,
		tenants:   make(map[string]*tenantEntry),
		destroyed: make(map[string]struct{}),
		capacity:  capacity,
		ciphers:   newCipherIndex(),
		actives:   newActiveIndex(),
		evictions: evictions,
	}
}

// version returns the tenant's entry of version v, or nil.
func (te *tenantEntry) version(v uint32) *entry {
	for _, e := range te.versions {
		if e.key.version == v {
			return e
		}
	}
	return nil
}

// entryLocked returns the entry of id, or nil. The caller holds c.mu.
func (c *cache) entryLocked(id keyID) *entry {
	if te := c.tenants[id.tenant]; te != nil {
		return te.version(id.version)
	}
	return nil
}

// touch sets the reference bit, writing only if it was clear so that hot
// entries' cache lines stay shared between cores.
func (e *entry) touch() {
	if !e.ref.Load() {
		e.ref.Store(true)
	}
}

// active returns the tenant's active key if both the active record and
// the key are fresh at now.
func (c *cache) active(tenant string, now int64) (k *dataKey, stale, ok bool) {
	c.mu.RLock()
	if te := c.tenants[tenant]; te != nil {
		if rec := te.active; rec != nil && now < rec.exp.Load() {
			e := rec.entry
			if exp, st := e.fresh.load(); now < exp {
				k, stale = e.key, st
				e.touch()
				c.mu.RUnlock()
				return k, stale, true
			}
		}
	}
	c.mu.RUnlock()
	return nil, false, false
}

// key returns a fresh key.
func (c *cache) key(id keyID, now int64) (k *dataKey, stale, ok bool) {
	c.mu.RLock()
	if te := c.tenants[id.tenant]; te != nil {
		if e := te.version(id.version); e != nil {
			if exp, st := e.fresh.load(); now < exp {
				k, stale = e.key, st
				e.touch()
				c.mu.RUnlock()
				return k, stale, true
			}
		}
	}
	c.mu.RUnlock()
	return nil, false, false
}

// cipher returns the indexed cipher of (tenant, version, table, column)
// if its key is fresh at now: key followed by Key.Cipher, without a lock.
func (c *cache) cipher(tenant string, version uint32, table, column string, now int64) (ci *cipher.Cipher, stale, ok bool) {
	r := c.ciphers.lookup(tenant, version, table, column)
	if r == nil {
		return nil, false, false
	}
	return r.serve(now)
}

// serve returns r's cipher if its key is fresh at now and not zeroed,
// and marks the key's entry used, as a locked hit would.
func (r *cipherRef) serve(now int64) (ci *cipher.Cipher, stale, ok bool) {
	exp, stale := r.entry.fresh.load()
	if now >= exp || r.key.zeroed() {
		return nil, false, false
	}
	r.entry.touch()
	return r.cipher, stale, true
}

// indexCipher adds ci, k's cipher for table.column, to the cipher index,
// if k is still the cached key of its id.
func (c *cache) indexCipher(k *dataKey, table, col string, ci *cipher.Cipher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(keyID{k.tenant, k.version})
	if e == nil || e.key != k {
		return
	}
	c.ciphers.add(e, k, table, col, ci)
}

// unindexLocked drops the ciphers of e's key from the cipher indexes,
// the active one's too if e is its tenant's active entry; the caller is
// about to zero or replace that key. It looks for every cipher the key
// handed out (a superset of those indexed: an index ref is added only
// after its key derived the cipher), rather than keep a list per entry.
func (c *cache) unindexLocked(e *entry) {
	for _, ci := range e.key.cipherList() {
		s := ci.Scope()
		c.ciphers.remove(e.key, s.Table, s.Column)
	}
	if te := c.tenants[e.key.tenant]; te != nil && te.active != nil && te.active.entry == e {
		c.actives.remove(te.active)
	}
}

// live returns the tenant's live versions if fresh.
func (c *cache) live(tenant string, now int64) ([]uint32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if te := c.tenants[tenant]; te != nil && te.live != nil && now < te.live.exp {
		return te.live.versions, true
	}
	return nil, false
}

// isDestroyed reports whether the tenant was seen shredded.
func (c *cache) isDestroyed(tenant string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, d := c.destroyed[tenant]
	return d
}

// installResult says what install did with the data key it was given.
type installResult int

const (
	installedNew      installResult = iota // a new entry
	installedRefresh                       // same key as cached: expiry extended, dek zeroed
	installedReplaced                      // a different key was cached for the id: replaced
)

// install caches dek as the key id, fresh until now+ttl and servable
// stale until now+ttl+grace. The cache takes ownership of dek: it is
// either held by the returned Key or zeroed. If the same key is already
// cached (the usual refresh after a TTL), that Key is kept, so ciphers
// derived from it survive, and its expiry is extended.
func (c *cache) install(id keyID, dek []byte, now int64, ttl, grace time.Duration) (*dataKey, installResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		clear(dek)
		return nil, 0, ErrClosed
	}
	if _, d := c.destroyed[id.tenant]; d {
		clear(dek)
		return nil, 0, ErrKeyDestroyed
	}
	exp := now + int64(ttl)
	if e := c.entryLocked(id); e != nil {
		res := installedRefresh
		if e.key.sameDEK(dek) {
			clear(dek)
		} else {
			// The table now holds another key under this id (restored
			// from a backup, edited by hand). The table is the truth.
			c.unindexLocked(e)
			e.key.zero(ErrKeyEvicted)
			c.evictions.Add(1)
			c.bytes -= int64(e.charged) * cipherBytes
			e.charged = 0
			e.key = c.newKeyLocked(id, dek)
			res = installedReplaced
		}
		e.fresh.store(exp, false)
		e.graceUntil = exp + int64(grace)
		return e.key, res, nil
	}
	for (c.n >= c.capacity || c.maxBytes > 0 && c.bytes+keyBytes > c.maxBytes) && c.hand != nil {
		c.removeLocked(c.victimLocked(), ErrKeyEvicted)
	}
	e := &entry{key: c.newKeyLocked(id, dek), graceUntil: exp + int64(grace)}
	c.bytes += keyBytes
	e.fresh.store(exp, false)
	c.n++
	te := c.tenants[id.tenant]
	if te == nil {
		te = &tenantEntry{}
		te.versions = te.first[:0]
		c.tenants[id.tenant] = te
	}
	te.versions = append(te.versions, e)
	// Insert behind the hand: a new entry is the last one the hand
	// reaches, and arrives with its reference bit clear.
	if c.hand == nil {
		e.prev, e.next = e, e
		c.hand = e
	} else {
		tail := c.hand.prev
		e.prev, e.next = tail, c.hand
		tail.next, c.hand.prev = e, e
	}
	return e.key, installedNew, nil
}

// victimLocked advances the CLOCK hand to the first entry whose reference
// bit is clear, clearing bits on the way, and returns it.
func (c *cache) victimLocked() *entry {
	for {
		e := c.hand
		c.hand = e.next
		if !e.ref.Load() {
			return e
		}
		e.ref.Store(false)
	}
}

// removeLocked drops e from every index and zeroes its key.
func (c *cache) removeLocked(e *entry, reason error) {
	c.n--
	if e.next == e {
		c.hand = nil
	} else {
		if c.hand == e {
			c.hand = e.next
		}
		e.prev.next, e.next.prev = e.next, e.prev
	}
	e.prev, e.next = nil, nil
	c.bytes -= keyBytes + int64(e.charged)*cipherBytes
	c.unindexLocked(e)
	if te := c.tenants[e.key.tenant]; te != nil {
		if te.active != nil && te.active.entry == e {
			c.retireActiveLocked(te)
		}
		te.versions = slices.DeleteFunc(te.versions, func(x *entry) bool { return x == e })
		if len(te.versions) == 0 {
			delete(c.tenants, e.key.tenant)
		}
	}
	e.key.zero(reason)
	c.evictions.Add(1)
}

// setActive records k as the tenant's active key until exp, if k is
// still the cached key of its id.
func (c *cache) setActive(k *dataKey, now, exp int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(keyID{k.tenant, k.version})
	if e == nil || e.key != k {
		return
	}
	te := c.tenants[k.tenant]
	if rec := te.active; rec != nil && rec.entry.key.version > k.version && now < rec.exp.Load() {
		// A load that read the table before a rotation (made by this
		// process, or seen by it) finished after it: the newer version
		// stays active until its record expires, so that Rotate's
		// promise holds that this process seals under the new key at once.
		return
	}
	c.setActiveLocked(te, e, exp)
}

// setLive records the tenant's live versions until exp, if the tenant has
// cached keys to hang them on.
func (c *cache) setLive(tenant string, versions []uint32, exp int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if te := c.tenants[tenant]; te != nil {
		te.live = &liveVersions{versions, exp}
	}
}

// forgetTenantViews drops the tenant's active and live records, so the
// next Active or liveKeys reads the table; keys stay cached.
func (c *cache) forgetTenantViews(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if te := c.tenants[tenant]; te != nil {
		c.retireActiveLocked(te)
		te.live = nil
	}
}

// fallback decides what a failed refresh of id leaves: the key if
// another load refreshed it meanwhile; the expired key, marked stale and
// fresh again until min(probe, graceUntil), if allowStale and the grace
// has not passed; otherwise nothing, and the expired key is zeroed.
func (c *cache) fallback(id keyID, now, probe int64, allowStale bool) (k *dataKey, stale, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(id)
	if e == nil {
		return nil, false, false
	}
	exp, st := e.fresh.load()
	switch {
	case now < exp:
		return e.key, st, true
	case allowStale && now < e.graceUntil:
		e.fresh.store(min(probe, e.graceUntil), true)
		return e.key, true, true
	}
	c.removeLocked(e, ErrKeyEvicted)
	return nil, false, false
}

// remove drops one key, zeroing it.
func (c *cache) remove(id keyID, reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entryLocked(id); e != nil {
		c.removeLocked(e, reason)
	}
}

// destroyTenant zeroes every cached key of the tenant and remembers it as
// destroyed, so a load already in flight cannot cache its key again.
func (c *cache) destroyTenant(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.destroyed[tenant] = struct{}{}
	if te := c.tenants[tenant]; te != nil {
		// removeLocked edits te.versions.
		for _, e := range slices.Clone(te.versions) {
			c.removeLocked(e, ErrKeyDestroyed)
		}
	}
	if te := c.tenants[tenant]; te != nil {
		c.retireActiveLocked(te)
	}
	delete(c.tenants, tenant)
}

// sweep removes the entries whose stale grace has passed at now. The scan
// runs under the read lock; only the removals take the write lock.
func (c *cache) sweep(now int64) int {
	var old []keyID
	c.mu.RLock()
	for _, te := range c.tenants {
		for _, e := range te.versions {
			if now >= e.graceUntil {
				old = append(old, keyID{e.key.tenant, e.key.version})
			}
		}
	}
	c.mu.RUnlock()
	if len(old) == 0 {
		return 0
	}
	n := 0
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range old {
		if e := c.entryLocked(id); e != nil && now >= e.graceUntil {
			c.removeLocked(e, ErrKeyEvicted)
			n++
		}
	}
	return n
}

// len returns the number of cached keys.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.n
}

// close zeroes every key; later installs fail with ErrClosed.
func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, te := range c.tenants {
		if te.active != nil {
			te.active.exp.Store(retiredExp)
		}
	}
	c.ciphers.reset()
	c.actives.reset()
	for _, te := range c.tenants {
		for _, e := range te.versions {
			e.key.zero(ErrClosed)
			e.prev, e.next = nil, nil
		}
	}
	c.bytes, c.n = 0, 0
	c.tenants, c.destroyed, c.hand = map[string]*tenantEntry{}, map[string]struct{}{}, nil
}

// rotated records k as the tenant's new active key until exp and drops
// the cached list of live versions, which lacks it.
func (c *cache) rotated(k *dataKey, exp int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(keyID{k.tenant, k.version})
	te := c.tenants[k.tenant]
	if e == nil || e.key != k || te == nil {
		return
	}
	c.setActiveLocked(te, e, exp)
	te.live = nil
}
