package cipher

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"runtime"
	"sync"

	"github.com/colcrypt/colcrypt/internal/secret"
)

// IndexKeySize is the size of a tenant's index key, in bytes.
const IndexKeySize = 32

// labelIndex is the HKDF label of a subkey derived from an index key. It
// differs from every data-key label (labelBidx above all), so no subkey
// of an index key can equal one of a data key even if the same 32 bytes
// were ever used as both, and the info also names the index, which the
// data-key derivation does not.
const labelIndex = "colcrypt/v1/index"

// Indexer takes the blind indexes of one named index of one encrypted
// column under one version of a tenant's index key.
//
// An index key is a per-tenant random key of its own, not a data key:
// rotating the tenant's data key leaves it alone, so an index column
// holds the same value for the same plaintext before and after a data-key
// rotation. A UNIQUE constraint on the column keeps holding, and a lookup
// needs one value, not one per live data-key version.
//
// The subkey is HKDF-SHA256(index key, no salt, info = "colcrypt/v1/index"
// ‖ canonical(table, column, name)), where column is the encrypted
// column (not the index column) and name the index's name. Like Cipher,
// an Indexer prints as [redacted] under every fmt verb and its subkey is
// zeroed by Destroy, or when it is collected.
type Indexer struct {
	version uint32
	k       *indexerKeys
}

// indexerKeys is the key-bearing part of an Indexer, one pointer away
// (see cipherKeys for why).
type indexerKeys struct {
	// mu is held for reading while the subkey bytes are in use (the pool
	// makes hashes from them) and for writing while destroy clears them.
	mu        sync.RWMutex
	destroyed bool
	sub       *secret.Bytes
	pool      sync.Pool
}

// NewIndexer derives the subkey of the index name on table.column from an
// index key of the given version. indexKey must be IndexKeySize bytes;
// NewIndexer keeps no reference to it.
func NewIndexer(indexKey []byte, version uint32, table, column, name string) (*Indexer, error) {
	if len(indexKey) != IndexKeySize {
		return nil, fmt.Errorf("codec: index key must be %d bytes, got %d", IndexKeySize, len(indexKey))
	}
	if version == 0 {
		return nil, errors.New("codec: index key version must be at least 1")
	}
	if name == "" {
		return nil, errors.New("codec: index name must not be empty")
	}
	sub, err := hkdf.Key(sha256.New, indexKey, nil, string(IndexInfo(table, column, name)), bidxKeyLen)
	if err != nil {
		return nil, fmt.Errorf("codec: derive: %w", err)
	}
	k := &indexerKeys{sub: secret.New(sub)}
	k.pool.New = func() any { return hmac.New(sha256.New, k.sub.Bytes()) }
	x := &Indexer{version: version, k: k}
	runtime.AddCleanup(x, (*indexerKeys).destroy, k)
	return x, nil
}

// IndexInfo returns the HKDF info of an index subkey: "colcrypt/v1/index"
// ‖ canonical(table, column, name).
func IndexInfo(table, column, name string) []byte {
	info := make([]byte, 0, len(labelIndex)+len(table)+len(column)+len(name)+30)
	info = append(info, labelIndex...)
	return AppendCanonical(info, table, column, name)
}

// Version returns the index key version the Indexer hashes under.
func (x *Indexer) Version() uint32 { return x.version }

// Index appends to dst the HMAC-SHA256 of the already normalized
// plaintext under the index subkey, truncated to length bytes. It panics
// if length is outside [MinBlindIndexLen, MaxBlindIndexLen] (configuration,
// checked where it is parsed) and returns ErrCipherDestroyed after
// Destroy.
func (x *Indexer) Index(dst, normalized []byte, length int) ([]byte, error) {
	if length < MinBlindIndexLen || length > MaxBlindIndexLen {
		panic(fmt.Sprintf("codec: blind index length %d outside [%d, %d]", length, MinBlindIndexLen, MaxBlindIndexLen))
	}
	k := x.k
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.destroyed {
		return nil, ErrCipherDestroyed
	}
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(normalized)
	var sum [sha256.Size]byte
	full := h.Sum(sum[:0])
	k.pool.Put(h)
	return append(dst, full[:length]...), nil
}

// Destroy zeroes the subkey and drops the pooled hashes (whose HMAC pads,
// inside crypto/hmac, it cannot reach to zero); every later Index fails
// with ErrCipherDestroyed. It is idempotent and safe to call concurrently
// with Index.
func (x *Indexer) Destroy() { x.k.destroy() }

func (k *indexerKeys) destroy() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.destroyed {
		return
	}
	k.destroyed = true
	k.sub.Clear()
	k.pool.New = nil
	for k.pool.Get() != nil {
	}
}

// String, GoString, Format, MarshalJSON and LogValue keep key material out
// of every output, by pointer and by value.
func (Indexer) String() string                { return "[redacted]" }
func (Indexer) GoString() string              { return "[redacted]" }
func (Indexer) Format(f fmt.State, verb rune) { f.Write([]byte("[redacted]")) }
func (Indexer) MarshalJSON() ([]byte, error)  { return []byte(`"[redacted]"`), nil }
func (Indexer) LogValue() slog.Value          { return slog.StringValue("[redacted]") }

var (
	_ fmt.Formatter  = Indexer{}
	_ slog.LogValuer = Indexer{}
)
