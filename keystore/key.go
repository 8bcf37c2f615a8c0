package keystore

import (
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/codec"
)

// Key is one version of a tenant's data key, unwrapped and held by the
// Store's cache. Its Cipher method hands out the per-column ciphers that
// seal and open values.
//
// A Key is valid while it is cached. When the cache drops it (the LRU
// bound, the TTL and stale grace passed, Shred, Close), its data key bytes
// are zeroed and Cipher returns an error: ErrKeyEvicted, ErrKeyDestroyed
// or ErrClosed. Ask the Store again after ErrKeyEvicted. Ciphers already
// handed out keep working, because a [codec.Cipher] holds subkeys derived
// from the data key, not the data key itself; they are dropped with the
// last reference to them.
//
// Zeroing is best effort, as in every Go program: the AES key schedules
// inside crypto/aes and crypto/cipher AEADs cannot be reached to be
// cleared, and the garbage collector may have copied memory before.
//
// A Key prints as [redacted] under every fmt verb, in JSON and in slog.
type Key struct {
	tenant  string
	version uint32

	mu   sync.Mutex
	dek  []byte // nil once zeroed
	gone error  // why dek is nil
	// cleared is set when dek is zeroed, for readers that take no lock
	// (the cache's cipher index).
	cleared atomic.Bool
	// ciphers is copied on write and read without a lock: it sits on every
	// seal and open, gains an entry only once per column, and is dropped
	// (set to nil) when the key is zeroed.
	ciphers atomic.Pointer[map[column]*codec.Cipher]
}

// column keys the cipher map. A struct of two strings, not their
// concatenation, so that a lookup allocates nothing.
type column struct{ table, column string }

func newKey(tenant string, version uint32, dek []byte) *Key {
	return &Key{tenant: tenant, version: version, dek: dek}
}

// Tenant returns the tenant the key belongs to.
func (k *Key) Tenant() string { return k.tenant }

// Version returns the key's version: the number stored in every value
// sealed under it.
func (k *Key) Version() uint32 { return k.version }

// Cipher returns the cipher for values of one table and column under this
// key, deriving it on first use and caching it in the Key. It fails once
// the key was zeroed.
func (k *Key) Cipher(table, col string) (*codec.Cipher, error) {
	if m := k.ciphers.Load(); m != nil {
		if c := (*m)[column{table, col}]; c != nil {
			return c, nil
		}
	}
	return k.derive(table, col)
}

func (k *Key) derive(table, col string) (*codec.Cipher, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dek == nil {
		return nil, k.gone
	}
	id := column{table, col}
	old := k.ciphers.Load()
	if old != nil {
		if c := (*old)[id]; c != nil {
			return c, nil
		}
	}
	c, err := codec.NewCipher(k.dek, k.version, codec.Scope{Tenant: k.tenant, Table: table, Column: col})
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	m := make(map[column]*codec.Cipher, 1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[id] = c
	k.ciphers.Store(&m)
	return c, nil
}

// zero clears the data key and drops the cached ciphers; Cipher returns
// reason from then on. It is idempotent; the first reason stays.
func (k *Key) zero(reason error) {
	k.mu.Lock()
	if k.dek != nil {
		clear(k.dek)
		k.dek = nil
		k.gone = reason
		k.ciphers.Store(nil)
		k.cleared.Store(true)
	}
	k.mu.Unlock()
}

// sameDEK reports, in constant time, whether the key holds dek.
func (k *Key) sameDEK(dek []byte) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dek != nil && constantTimeEqual(k.dek, dek)
}

// zeroed reports whether the key's bytes were cleared.
func (k *Key) zeroed() bool { return k.cleared.Load() }

const redacted = "[redacted]"

// String, GoString, Format, MarshalJSON and LogValue keep the key out of
// every output.
func (k *Key) String() string                { return redacted }
func (k *Key) GoString() string              { return redacted }
func (k *Key) Format(f fmt.State, verb rune) { f.Write([]byte(redacted)) }
func (k *Key) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (k *Key) LogValue() slog.Value          { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = (*Key)(nil)
	_ fmt.GoStringer = (*Key)(nil)
	_ fmt.Formatter  = (*Key)(nil)
	_ slog.LogValuer = (*Key)(nil)
)
