package migrate

import (
	"context"
	"errors"
	"time"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// keyRef names a key a batch needs: a tenant's active key (version 0), or
// one version of it.
type keyRef struct {
	tenant  string
	version uint32
}

// keyCache holds, per worker, a fieldcore.Handle per tenant of the job's
// scope, and which key versions of it are loaded.
//
// No key-store call is made while a batch transaction is open: the key
// store reads and writes the key table through the same database, and a
// call waiting on it from inside the transaction could wait forever — on
// SQLite's single write lock the batch holds, or on a connection pool too
// small for both. A batch that meets a key not yet loaded notes it as
// cold, rolls back, loads the cold keys outside (Handle.Load), and runs
// again.
//
// The cache also makes a batch use one key-store lookup per tenant
// rather than per row, and seal a value and its blind index under one
// key version even if a rotation lands meanwhile.
type keyCache struct {
	handles map[string]*fieldcore.Handle // by tenant
	loaded  map[keyRef]error             // the keys loaded, and how that went
	at      time.Time
	noLoad  bool // a batch transaction is open
	cold    map[keyRef]bool
}

const (
	// keyTTL bounds how long a worker uses a cached key before asking the
	// key store again (which has its own cache and TTL): a rotation or a
	// shred in this process is seen within it.
	keyTTL = 2 * time.Second
	// maxCachedKeys bounds the cache; past it the cache starts afresh
	// rather than refreshing every entry.
	maxCachedKeys = 4096
)

// errCold reports a key that must be loaded outside the batch transaction.
var errCold = errors.New("migrate: key not loaded")

// startBatch refreshes the cache when it is older than keyTTL. It runs
// outside any batch transaction.
func (w *worker) startBatch(ctx context.Context) {
	for _, s := range w.helpers() {
		s.startBatch(ctx)
	}
	kc := &w.keys
	clear(kc.cold)
	if time.Since(kc.at) <= keyTTL {
		return
	}
	kc.at = time.Now()
	// Fresh handles see a rotation or a shred since the last load.
	clear(kc.handles)
	if len(kc.loaded) > maxCachedKeys {
		clear(kc.loaded)
		return
	}
	for ref := range kc.loaded {
		kc.loaded[ref] = w.load(ctx, ref)
	}
}

// warm loads the keys a batch found cold, outside its transaction.
func (w *worker) warm(ctx context.Context) {
	for _, s := range w.helpers() {
		s.warm(ctx)
	}
	if w.keys.loaded == nil {
		w.keys.loaded = map[keyRef]error{}
	}
	for ref := range w.keys.cold {
		w.keys.loaded[ref] = w.load(ctx, ref)
	}
	clear(w.keys.cold)
}

// key returns the handle of ref's tenant with ref's key loaded, or
// errCold inside a batch transaction when it is not.
func (w *worker) key(ctx context.Context, ref keyRef) (*fieldcore.Handle, error) {
	kc := &w.keys
	if err, ok := kc.loaded[ref]; ok {
		return kc.handles[ref.tenant], err
	}
	if kc.noLoad {
		if kc.cold == nil {
			kc.cold = map[keyRef]bool{}
		}
		kc.cold[ref] = true
		return nil, errCold
	}
	if kc.loaded == nil {
		kc.loaded = map[keyRef]error{}
		kc.at = time.Now()
	}
	err := w.load(ctx, ref)
	kc.loaded[ref] = err
	return kc.handles[ref.tenant], err
}

// load loads ref's key into its tenant's handle, made if need be, by the
// Encryptor's rules (an unknown version is codec.ErrAuth). A dry run
// seals under a tenant's newest live key instead of the active one,
// whose lookup would create a tenant's first key.
func (w *worker) load(ctx context.Context, ref keyRef) error {
	kc := &w.keys
	h := kc.handles[ref.tenant]
	if h == nil {
		var err error
		if h, err = w.m.enc.Handle(ctx, w.p.scope(ref.tenant)); err != nil {
			return err
		}
		if kc.handles == nil {
			kc.handles = map[string]*fieldcore.Handle{}
		}
		kc.handles[ref.tenant] = h
	}
	if ref.version == 0 && w.dry {
		return h.LoadNewest(ctx)
	}
	if err := h.Load(ctx, ref.version); err != nil {
		return err
	}
	// A blind index under the index key is taken through the key store's
	// index key family: look it up (creating the tenant's first index
	// key) here, outside the batch transaction, so that the batch finds
	// it cached.
	if b := w.p.job.BlindIndex; b != nil && b.Keying != field.IndexLegacy && ref.version == 0 && !w.dry {
		if _, err := h.BlindIndex(ctx, b, nil); err != nil {
			return err
		}
	}
	if ref.version == 0 && !w.dry {
		return w.prefetchIndexKeys(ctx, ref.tenant)
	}
	return nil
}

// open authenticates and decrypts a stored value (binary or armored) of
// tenant, as field.Encryptor.Open does, but through the worker's cache so
// that it makes no key-store call inside a batch transaction.
func (w *worker) open(ctx context.Context, r *row, tenant string, value []byte) ([]byte, error) {
	key, err := w.rowKey(r)
	if err != nil {
		return nil, err
	}
	v, err := fieldcore.ParseStored(w.p.scope(tenant), value)
	if err != nil {
		return nil, err
	}
	h, err := w.key(ctx, keyRef{tenant: tenant, version: v.KeyVersion})
	if err != nil {
		return nil, err
	}
	if w.p.bind != nil {
		return h.OpenRow(ctx, key, nil, value)
	}
	return h.Open(ctx, nil, value)
}
