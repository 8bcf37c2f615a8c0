package keystore

import (
	"math"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// The seal path asks for the column cipher of a tenant's active key on
// every value. The locked way, cache.active then Key.Cipher, takes the
// cache's read lock: two atomic writes to the one reader count that every
// core shares, which with a few goroutines per core costs more than the
// AES-GCM of a small value. So the cache also keeps a second cipherIndex,
// c.actives, mapping (tenant, 0, table, column) to the cipher of the
// tenant's active key, read without a lock like the index of versions.
// Without it a parallel seal on two cores was 1.46x raw AES-GCM instead
// of 1.24x (docs/ARCHITECTURE.md, "Concurrency in the cache").
//
// A ref there must stop answering exactly when cache.active would stop
// returning its key: when the active record expires (its own TTL, so that
// a rotation by another process is seen), when another version becomes
// active, when the record is dropped (Shred, eviction, Close,
// forgetTenantViews), and when the key expires or is zeroed. The key's
// part the reader checks as for a version ref (the entry's freshness, the
// key's cleared bit). The record's part is the activeRecord: its expiry
// is atomic, the reader checks it, and the writer that replaces or drops
// the record sets it to retired and removes the record's refs in the
// same critical section.

// activeRecord is a tenant's active version as the cache knows it: the
// entry of the active key, fresh before exp. A renewal of the same
// version (after the TTL, the table still saying so) moves exp; any other
// change replaces the record, retiring the old one for good.
type activeRecord struct {
	entry *entry
	exp   atomic.Int64 // ticks; retiredExp once replaced or dropped
}

// retiredExp is the expiry of a retired record: no tick is before it.
const retiredExp = math.MinInt64

// activeCipher returns the indexed cipher of the tenant's active key for
// table.column if the active record and the key are fresh at now: what
// cache.active followed by Key.Cipher would return, without a lock.
func (c *cache) activeCipher(tenant, table, column string, now int64) (ci *cipher.Cipher, stale, ok bool) {
	r := c.actives.lookup(tenant, 0, table, column)
	if r == nil || now >= r.active.exp.Load() {
		return nil, false, false
	}
	return r.serve(now)
}

// indexActive adds ci, k's cipher for table.column, to the index of
// active ciphers, if k is still the key of the tenant's active record.
func (c *cache) indexActive(k *dataKey, table, col string, ci *cipher.Cipher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	te := c.tenants[k.tenant]
	if te == nil || te.active == nil || te.active.entry.key != k {
		return
	}
	c.actives.addActive(te.active, k, table, col, ci)
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
// holding one of its refs see it retired, and the index loses its refs.
func (c *cache) retireActiveLocked(te *tenantEntry) {
	rec := te.active
	if rec == nil {
		return
	}
	rec.exp.Store(retiredExp)
	c.unindexActiveLocked(rec)
	te.active = nil
}

// unindexActiveLocked drops the refs published under rec; the caller is
// about to retire rec or zero or replace its key. Like unindexLocked it
// looks for every cipher of the record's key: the refs published under
// rec are refs of that key (a record's key changes only by
// unindexLocked, which drops them first), and the key is zeroed only
// after its refs are dropped.
func (c *cache) unindexActiveLocked(rec *activeRecord) {
	k := rec.entry.key
	for _, ci := range k.cipherList() {
		s := ci.Scope()
		c.actives.removeActive(k, s.Table, s.Column)
	}
}
