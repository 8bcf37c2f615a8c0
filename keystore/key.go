package keystore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/secret"
)

// Key is one version of a tenant's data key, unwrapped and held by the
// Store's cache. Its Cipher method hands out the per-column ciphers that
// seal and open values.
//
// A Key is valid while it is cached. When the cache drops it, its data
// key bytes are zeroed and Cipher returns an error: ErrKeyEvicted,
// ErrKeyDestroyed or ErrClosed. Ask the Store again after ErrKeyEvicted.
//
// What happens to the [cipher.Cipher] values already handed out depends on
// why the key was dropped:
//
//   - Shred, a destroyed version and Close destroy them (see
//     [cipher.Cipher.Destroy]): their subkey bytes are zeroed at once and
//     every later seal or open fails with [cipher.ErrCipherDestroyed]. Those
//     are promises that the key is gone from this process.
//   - The LRU bound, the TTL with its stale grace, and a key row replaced
//     in the table only drop them from the cache. A statement, batch or
//     migration step that holds one keeps sealing and opening with it
//     until it is done, rather than fail halfway through for a reason
//     that is not the caller's; each Cipher zeroes its subkey bytes when
//     the garbage collector finds it unreachable, so those bytes outlive
//     the data key by as long as a holder keeps the Cipher, plus one
//     collection.
//
// Zeroing is best effort, as in every Go program. What is cleared: the
// data key, and each Cipher's SIV and blind-index subkeys (the GCM subkey
// is cleared as soon as its cipher is made). What cannot be reached to be
// cleared, and is left to the garbage collector: the AES-256 key schedules
// inside crypto/aes (the GCM subkey's) and inside Tink's AES-SIV (its CMAC
// key's, with the two CMAC subkeys derived from it), and the HMAC pads of
// the blind-index subkey inside crypto/hmac. The garbage collector may
// also have moved or copied memory before it was cleared, and the
// plaintext of a data key passes through the KMS client's buffers.
//
// A Key prints as [redacted] under every fmt verb, in JSON and in slog,
// by pointer and by value: its bytes sit two pointers away, in a type
// that redacts itself.
type dataKey struct {
	tenant  string
	version uint32
	st      *keyState
}

// keyState is what a Key shares with its copies: a Key copied by value
// is the same key, zeroed with it.
type keyState struct {
	mu   sync.Mutex
	dek  *secret.Bytes // Bytes() nil once zeroed
	gone error         // why dek is nil
	// cleared is set when dek is zeroed, for readers that take no lock
	// (the cache's cipher index).
	cleared atomic.Bool
	// ciphers is copied on write and read without a lock: it sits on every
	// Key.Cipher, gains an entry only once per column, and is dropped
	// (set to nil) when the key is zeroed. A list, not a map: a tenant
	// uses a handful of columns, which a scan finds as fast as a map
	// lookup, and a map of four costs ten times the list's 32 bytes.
	ciphers atomic.Pointer[[]*cipher.Cipher]
	// indexers is ciphers' counterpart for a key of the index key family
	// (indexkeys.go): copied on write under mu, dropped when zeroed.
	indexers atomic.Pointer[[]namedIndexer]
	// cache, if set, is told of each new cipher, which it accounts
	// against Tuning.CacheMaxBytes.
	cache *cache
}

func newKey(tenant string, version uint32, dek []byte) *dataKey {
	return &dataKey{tenant: tenant, version: version, st: &keyState{dek: secret.New(dek)}}
}

// Tenant returns the tenant the key belongs to.
func (k *dataKey) Tenant() string { return k.tenant }

// Version returns the key's version: the number stored in every value
// sealed under it.
func (k *dataKey) Version() uint32 { return k.version }

// Cipher returns the cipher for values of one table and column under this
// key, deriving it on first use and caching it in the Key. It fails once
// the key was zeroed.
func (k *dataKey) Cipher(table, col string) (*cipher.Cipher, error) {
	if c := findCipher(k.st.ciphers.Load(), table, col); c != nil {
		return c, nil
	}
	c, fresh, err := k.derive(table, col)
	if fresh && k.st.cache != nil {
		k.st.cache.charge(k)
	}
	return c, err
}

// findCipher returns the cipher of table.col in l, or nil.
func findCipher(l *[]*cipher.Cipher, table, col string) *cipher.Cipher {
	if l == nil {
		return nil
	}
	for _, c := range *l {
		if s := c.Scope(); s.Column == col && s.Table == table {
			return c
		}
	}
	return nil
}

// derive returns the cipher of table.col, deriving it if the key has
// none yet (fresh).
func (k *dataKey) derive(table, col string) (c *cipher.Cipher, fresh bool, err error) {
	st := k.st
	st.mu.Lock()
	defer st.mu.Unlock()
	dek := st.dek.Bytes()
	if dek == nil {
		return nil, false, st.gone
	}
	old := st.ciphers.Load()
	if c := findCipher(old, table, col); c != nil {
		return c, false, nil
	}
	c, err = cipher.NewCipher(dek, k.version, codec.Scope{Tenant: k.tenant, Table: table, Column: col})
	if err != nil {
		return nil, false, fmt.Errorf("keystore: %w", err)
	}
	var l []*cipher.Cipher
	if old != nil {
		l = make([]*cipher.Cipher, len(*old), len(*old)+1)
		copy(l, *old)
	}
	l = append(l, c)
	st.ciphers.Store(&l)
	return c, true, nil
}

// cipherList returns the ciphers the key has handed out, nil once it is
// zeroed.
func (k *dataKey) cipherList() []*cipher.Cipher {
	if l := k.st.ciphers.Load(); l != nil {
		return *l
	}
	return nil
}

// zero clears the data key and drops the cached ciphers; Cipher returns
// reason from then on. Unless reason is ErrKeyEvicted (the cache made
// room, or the TTL passed, or the table holds another key under the id)
// it also destroys the ciphers the key handed out: Shred, a destroyed
// version and Close promise the key is gone, and a holder must not keep
// sealing under it. It is idempotent; the first reason stays.
func (k *dataKey) zero(reason error) {
	st := k.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dek.Bytes() == nil {
		return
	}
	st.dek.Clear()
	st.gone = reason
	l := st.ciphers.Swap(nil)
	xl := st.indexers.Swap(nil)
	st.cleared.Store(true)
	if !errors.Is(reason, ErrKeyEvicted) {
		if l != nil {
			for _, c := range *l {
				c.Destroy()
			}
		}
		if xl != nil {
			for _, x := range *xl {
				x.x.Destroy()
			}
		}
	}
}

// sameDEK reports, in constant time, whether the key holds dek.
func (k *dataKey) sameDEK(dek []byte) bool {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	held := k.st.dek.Bytes()
	return held != nil && constantTimeEqual(held, dek)
}

// zeroed reports whether the key's bytes were cleared.
func (k *dataKey) zeroed() bool { return k.st.cleared.Load() }

const redacted = "[redacted]"

// String, GoString, Format, MarshalJSON and LogValue keep the key out of
// every output. Their receivers are values, so a Key copied by value
// redacts too.
func (dataKey) String() string                { return redacted }
func (dataKey) GoString() string              { return redacted }
func (dataKey) Format(f fmt.State, verb rune) { f.Write([]byte(redacted)) }
func (dataKey) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (dataKey) LogValue() slog.Value          { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = dataKey{}
	_ fmt.GoStringer = dataKey{}
	_ fmt.Formatter  = dataKey{}
	_ slog.LogValuer = dataKey{}
)
