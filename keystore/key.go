package keystore

import (
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
// A Key is valid while it is cached. When the cache drops it, Cipher
// returns an error: ErrKeyEvicted, ErrKeyDestroyed or ErrClosed. Ask the
// Store again after ErrKeyEvicted.
//
// What happens to its data key and to the [cipher.Cipher] values already
// handed out depends on why the key was dropped:
//
//   - Shred, a destroyed version and Close destroy them (see
//     [cipher.Cipher.Destroy]), then zero the data key: every later seal
//     or open fails with [cipher.ErrCipherDestroyed]. Those are promises
//     that the key is gone from this process.
//   - The LRU bound, the TTL with its stale grace, and a key row replaced
//     in the table only drop them from the cache. A statement, batch or
//     migration step that holds one keeps sealing and opening with it
//     until it is done, rather than fail halfway through for a reason
//     that is not the caller's. Each Cipher derives its SIV and
//     blind-index subkeys from the data key on first use, so the data
//     key stays in memory as long as a holder keeps one of its Ciphers,
//     and is zeroed when the garbage collector has found all of them
//     unreachable (secret.Shared); a key that handed out no Cipher is
//     zeroed at once.
//
// Zeroing is best effort, as in every Go program. What is cleared: the
// data key, and each Cipher's blind-index subkey (the GCM and SIV
// subkeys are cleared as soon as their AES key schedules are made). What
// cannot be reached to be cleared, and is left to the garbage collector:
// the AES-256 key schedules inside crypto/aes (the GCM subkey's and the
// SIV subkey's halves, with the two CMAC subkeys derived from it), and
// the HMAC pads of the blind-index subkey inside crypto/hmac. The
// garbage collector may also have moved or copied memory before it was
// cleared, and the plaintext of a data key passes through the KMS
// client's buffers.
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
// is the same key, zeroed with it. It is 48 bytes.
type keyState struct {
	mu sync.Mutex
	// gone is why dek is nil (goneEvicted, goneDestroyed, goneClosed),
	// 0 while the key is cached. It is set when the key is dropped, and
	// read without a lock by the cache's indexes (zeroed).
	gone atomic.Uint32
	// dek is shared with the ciphers derived from it, which derive
	// their SIV and blind-index subkeys from it on first use. It is nil
	// once the key was dropped, and cleared then unless the reason was
	// ErrKeyEvicted; see zero.
	dek *secret.Shared
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
	return &dataKey{tenant: tenant, version: version, st: &keyState{dek: secret.NewShared(dek)}}
}

// Why a key was dropped, as keyState.gone keeps it: an error value would
// take 16 bytes of every key, not 4, and keyState 64 bytes, not 48.
const (
	goneEvicted uint32 = 1 + iota
	goneDestroyed
	goneClosed
)

// goneCode returns reason's code for keyState.gone: zero is given
// ErrKeyEvicted, ErrKeyDestroyed or ErrClosed, and a reason that is none
// of them would lose its message, so it is a programmer's error.
func goneCode(reason error) uint32 {
	switch reason {
	case ErrKeyEvicted:
		return goneEvicted
	case ErrKeyDestroyed:
		return goneDestroyed
	case ErrClosed:
		return goneClosed
	}
	panic(fmt.Sprintf("keystore: key dropped for %v", reason))
}

// goneErr returns why the key was dropped, nil while it is cached.
func (k *keyState) goneErr() error {
	switch k.gone.Load() {
	case goneEvicted:
		return ErrKeyEvicted
	case goneDestroyed:
		return ErrKeyDestroyed
	case goneClosed:
		return ErrClosed
	}
	return nil
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
	// A few ciphers are compared directly: IsColumn turns most of them
	// down on a length byte, cheaper than hashing two names into the tag
	// that filters a longer list.
	if len(*l) <= directScan {
		for _, c := range *l {
			if c.IsColumn(table, col) {
				return c
			}
		}
		return nil
	}
	tag := cipher.ColumnTag(table, col)
	for _, c := range *l {
		if c.Tag() == tag && c.IsColumn(table, col) {
			return c
		}
	}
	return nil
}

// directScan is the longest list of a key's ciphers findCipher compares
// without the column tag.
const directScan = 4

// derive returns the cipher of table.col, deriving it if the key has
// none yet (fresh).
func (k *dataKey) derive(table, col string) (c *cipher.Cipher, fresh bool, err error) {
	st := k.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dek == nil {
		return nil, false, st.goneErr()
	}
	old := st.ciphers.Load()
	if c := findCipher(old, table, col); c != nil {
		return c, false, nil
	}
	c, err = cipher.NewCipherShared(st.dek, k.version, codec.Scope{Tenant: k.tenant, Table: table, Column: col})
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

// zero drops the data key and the cached ciphers; Cipher returns reason
// from then on. Unless reason is ErrKeyEvicted (the cache made room, or
// the TTL passed, or the table holds another key under the id) it
// destroys the ciphers the key handed out, then clears the data key:
// Shred, a destroyed version and Close promise the key is gone, and a
// holder must not keep sealing under it. An evicted key's ciphers may
// still be in use, and derive subkeys from the data key on first use,
// so its bytes are left to be zeroed when the last of them is collected,
// or at once if it handed out none. It is idempotent; the first reason
// stays.
func (k *dataKey) zero(reason error) {
	st := k.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dek == nil {
		return
	}
	code := goneCode(reason)
	l := st.ciphers.Swap(nil)
	xl := st.indexers.Swap(nil)
	st.gone.Store(code)
	evicted := code == goneEvicted
	if !evicted && xl != nil {
		for _, x := range *xl {
			x.x.Destroy()
		}
	}
	if l == nil || !evicted {
		if l != nil {
			for _, c := range *l {
				c.Destroy()
			}
		}
		st.dek.Clear()
	}
	st.dek = nil
}

// sameDEK reports, in constant time, whether the key holds dek.
func (k *dataKey) sameDEK(dek []byte) bool {
	k.st.mu.Lock()
	defer k.st.mu.Unlock()
	if k.st.dek == nil {
		return false
	}
	same := false
	k.st.dek.Use(func(held []byte) {
		same = held != nil && constantTimeEqual(held, dek)
	})
	return same
}

// zeroed reports whether the key was dropped: its Cipher fails, and its
// bytes are cleared, or will be once its ciphers are collected.
func (k *dataKey) zeroed() bool { return k.st.gone.Load() != 0 }

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
