package migrate

import (
	"context"
	"errors"
	"time"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
)

// keyRef names a key a batch needs: a tenant's active key (version 0), or
// one version of it.
type keyRef struct {
	tenant  string
	version uint32
}

// keyCache holds, per worker, the ciphers of the keys its batches use.
//
// No key-store call is made while a batch transaction is open: the key
// store reads and writes the key table through the same database, and a
// call waiting on it from inside the transaction could wait forever — on
// SQLite's single write lock the batch holds, or on a connection pool too
// small for both. A batch that meets a key not yet cached notes it as
// cold, rolls back, loads the cold keys outside, and runs again.
//
// The cache also makes a batch use one key-store lookup per tenant
// rather than per row, and seal a value and its blind index under one
// key version even if a rotation lands meanwhile.
type keyCache struct {
	ciphers map[keyRef]cipherOrErr
	at      time.Time
	noLoad  bool // a batch transaction is open
	cold    map[keyRef]bool
}

type cipherOrErr struct {
	c   *codec.Cipher
	err error
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
	for _, s := range w.subs {
		s.startBatch(ctx)
	}
	kc := &w.keys
	clear(kc.cold)
	if time.Since(kc.at) <= keyTTL {
		return
	}
	kc.at = time.Now()
	if len(kc.ciphers) > maxCachedKeys {
		clear(kc.ciphers)
		return
	}
	for ref := range kc.ciphers {
		kc.ciphers[ref] = w.load(ctx, ref)
	}
}

// warm loads the keys a batch found cold, outside its transaction.
func (w *worker) warm(ctx context.Context) {
	for _, s := range w.subs {
		s.warm(ctx)
	}
	if w.keys.ciphers == nil {
		w.keys.ciphers = map[keyRef]cipherOrErr{}
	}
	for ref := range w.keys.cold {
		w.keys.ciphers[ref] = w.load(ctx, ref)
	}
	clear(w.keys.cold)
}

// key returns the cipher of ref for the job's scope, or errCold inside a
// batch transaction when it is not cached.
func (w *worker) key(ctx context.Context, ref keyRef) (*codec.Cipher, error) {
	kc := &w.keys
	if ce, ok := kc.ciphers[ref]; ok {
		return ce.c, ce.err
	}
	if kc.noLoad {
		if kc.cold == nil {
			kc.cold = map[keyRef]bool{}
		}
		kc.cold[ref] = true
		return nil, errCold
	}
	if kc.ciphers == nil {
		kc.ciphers = map[keyRef]cipherOrErr{}
		kc.at = time.Now()
	}
	ce := w.load(ctx, ref)
	kc.ciphers[ref] = ce
	return ce.c, ce.err
}

// load asks the Encryptor, by its rules (an unknown version is
// codec.ErrAuth). A dry run reads a tenant's newest live key instead of
// the active one, which would create a tenant's first key.
func (w *worker) load(ctx context.Context, ref keyRef) cipherOrErr {
	enc := w.m.enc
	s := w.p.scope(ref.tenant)
	var (
		c   *codec.Cipher
		err error
	)
	switch {
	case ref.version != 0:
		c, err = enc.VersionCipher(ctx, s, ref.version)
	case w.dry:
		var live []*codec.Cipher
		if live, err = enc.Keys().LiveCiphers(ctx, ref.tenant, s.Table, s.Column); err == nil {
			if len(live) == 0 {
				err = keystore.ErrKeyNotFound
			} else {
				c = live[0]
			}
		}
	default:
		c, err = enc.ActiveCipher(ctx, s)
	}
	return cipherOrErr{c: c, err: err}
}

// open authenticates and decrypts a stored value (binary or armored) of
// tenant, as field.Encryptor.Open does, but through the worker's cache so
// that it makes no key-store call inside a batch transaction.
func (w *worker) open(ctx context.Context, r *row, tenant string, value []byte) ([]byte, error) {
	key, err := w.rowKey(r)
	if err != nil {
		return nil, err
	}
	v, err := field.ParseStored(w.p.scope(tenant), value)
	if err != nil {
		return nil, err
	}
	c, err := w.key(ctx, keyRef{tenant: tenant, version: v.KeyVersion})
	if err != nil {
		return nil, err
	}
	if w.p.bind != nil {
		return c.OpenValueRow(nil, v, key)
	}
	return c.OpenValue(nil, v)
}
