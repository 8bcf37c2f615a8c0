package keystore

// The cache's bound in bytes (Tuning.CacheMaxBytes) counts each cached key as
// keyBytes and each column cipher it handed out as cipherBytes: estimates
// of the heap they keep, measured on linux/amd64 with Go 1.26 by
// BenchmarkCachedTenantColumnBytes (see BENCHMARKS.md). Counting, not
// measuring: the runtime has no cheap way to size an object graph, and
// an estimate that is fixed per key and per cipher keeps the bound
// predictable.
//
// What a cipher costs is mostly the AES-256-GCM state of its subkey
// (768 bytes inside crypto/internal: two AES key schedules and a GHASH
// table), then the cipher.Cipher around it (48), its key-dependent part
// (32) and its associated data (32, which also holds its scope), and its
// share of its key's list of ciphers (14): 894. Opened by version
// (Store.Cipher), it also has a ref in the cache's cipher index with its
// share of the index's table (93); the estimate counts it, so that it
// bounds what a column both sealed and opened keeps, and overstates a
// seal-only column by 11%. A deterministic column builds AES-SIV state
// on first use, about 0.7 KB more, which the estimate does not count; a
// blind index's HMAC hashes sit in a sync.Pool, which the collector
// empties. What a key costs (about 480: 4,055 per tenant measured, less
// 4 × 894) is the Key, its state and data key, its cache entry and the
// cache's map of tenants, its tenant's entry, active record and ref in
// the index of active keys, and its version marks. A tenant of 4
// randomized columns is accounted 4,440 bytes against 4,055 measured
// (about 4,430 with each column also opened).
const (
	keyBytes    = 480
	cipherBytes = 990
)

// newKeyLocked makes the key id holds dek, accounted by the cache.
func (c *cache) newKeyLocked(id keyID, dek []byte) *dataKey {
	k := newKey(id.tenant, id.version, dek)
	k.st.cache = c
	return k
}

// charge accounts the ciphers k derived since it was last charged, if k
// is still the cached key of its id, and evicts other keys while the
// cache is over its bound in bytes. Key.Cipher calls it after deriving a
// cipher, without the key's lock (the cache locks the cache, then a
// key).
func (c *cache) charge(k *dataKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(keyID{k.tenant, k.version})
	if e == nil || e.key != k {
		return
	}
	n := int32(len(k.cipherList()))
	if n <= e.charged {
		return
	}
	c.bytes += int64(n-e.charged) * cipherBytes
	e.charged = n
	c.shrinkLocked(e)
}

// shrinkLocked evicts keys, never keep, until the cache is within its
// bound in bytes or keep is all it holds: one key whose ciphers alone
// pass the bound stays, since its caller is using it.
func (c *cache) shrinkLocked(keep *entry) {
	for c.maxBytes > 0 && c.bytes > c.maxBytes && c.n > 1 {
		v := c.victimLocked()
		if v == keep {
			// Give it its second chance: the hand moves on to the others.
			v.ref.Store(true)
			continue
		}
		c.removeLocked(v, ErrKeyEvicted)
	}
}

// accountedBytes returns the cache's accounted size.
func (c *cache) accountedBytes() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bytes
}
