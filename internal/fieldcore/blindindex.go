package fieldcore

import (
	"context"
	"fmt"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/normalize"
)

// BlindIndex configures a blind index: a keyed hash of a normalized
// plaintext, stored in its own column so a randomized column can still be
// found by equality.
type BlindIndex struct {
	// Column holds the index.
	Column string
	// Name names the index in its key derivation (see [IndexKeying]); it
	// is Column unless set.
	Name string
	// Keying says which key the index is taken under: the tenant's index
	// key (IndexAuto, the zero value and default, which also looks up
	// what a release before index keys wrote; IndexStable, which looks up
	// the index key's value alone), its data key versions (IndexLegacy),
	// or, while an index column moves from the one to the other, the
	// first for writes and both for lookups (IndexMigrating).
	Keying IndexKeying
	// Length is the index length in bytes (cipher.DefaultBlindIndexLen if 0).
	Length int
	// Bits is the index length in bits, Length*8 unless the tag said
	// bits:<n>; the low 8*Length-Bits bits of the last byte are zero.
	Bits int
	// Normalizers name the codec normalizers applied in order.
	Normalizers []string

	normalize normalize.Func
}

// NewBlindIndex checks a configuration and resolves its normalizers.
func NewBlindIndex(column string, length int, normalizers ...string) (*BlindIndex, error) {
	if column == "" {
		return nil, fmt.Errorf("field: blind index needs a column")
	}
	if length == 0 {
		length = cipher.DefaultBlindIndexLen
	}
	if length < cipher.MinBlindIndexLen || length > cipher.MaxBlindIndexLen {
		return nil, fmt.Errorf("field: blind index length %d outside [%d, %d] bytes", length, cipher.MinBlindIndexLen, cipher.MaxBlindIndexLen)
	}
	return newBlindIndex(column, length, length*8, normalizers)
}

// NewBlindIndexBits is NewBlindIndex with the length in bits, from
// MinIndexBits to MaxIndexBits (0: DefaultIndexBits). With a multiple of
// 8 its values are NewBlindIndex's of bits/8 bytes.
func NewBlindIndexBits(column string, bits int, normalizers ...string) (*BlindIndex, error) {
	if column == "" {
		return nil, fmt.Errorf("field: blind index needs a column")
	}
	if bits == 0 {
		bits = DefaultIndexBits
	}
	if bits < MinIndexBits || bits > MaxIndexBits {
		return nil, fmt.Errorf("field: blind index of %d bits outside [%d, %d]", bits, MinIndexBits, MaxIndexBits)
	}
	return newBlindIndex(column, (bits+7)/8, bits, normalizers)
}

func newBlindIndex(column string, length, bits int, normalizers []string) (*BlindIndex, error) {
	ns := make([]normalize.Func, 0, len(normalizers))
	for _, name := range normalizers {
		n, err := normalize.Lookup(name)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return &BlindIndex{Column: column, Name: column, Length: length, Bits: bits, Normalizers: normalizers, normalize: normalize.Chain(ns...)}, nil
}

// name is the index's name in its key derivation.
func (b *BlindIndex) name() string {
	if b.Name != "" {
		return b.Name
	}
	return b.Column
}

// bits is the index length in bits, for a BlindIndex made without
// NewBlindIndex too.
func (b *BlindIndex) bits() int {
	if b.Bits != 0 {
		return b.Bits
	}
	if b.Length != 0 {
		return b.Length * 8
	}
	return DefaultIndexBits
}

// hash is the legacy blind index of plaintext under the data key cipher c.
func (b *BlindIndex) hash(c *cipher.Cipher, plaintext []byte) ([]byte, error) {
	return keyedHash(c, b.normalized(plaintext), b.bits())
}

// normalizeText applies the index's normalizers.
func (b *BlindIndex) normalizeText(s string) string {
	if b.normalize == nil {
		return s
	}
	return b.normalize(s)
}

// IndexValue returns the blind index of plaintext to store in b's column
// beside a value of the encrypted column s: under the tenant's index key
// (IndexAuto, IndexStable, IndexMigrating), creating it on first use, or under its
// active data key (IndexLegacy). Every integration stores what this
// returns, and every lookup matches what IndexLookupValues returns, so
// the two stay one rule.
func (e *Engine) IndexValue(ctx context.Context, s Scope, b *BlindIndex, plaintext []byte) ([]byte, error) {
	if b.Keying == IndexLegacy {
		c, _, err := e.activeCipher(ctx, s)
		if err != nil {
			return nil, err
		}
		return b.hash(c, plaintext)
	}
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	x, err := e.writeIndexer(ctx, tenant, s.Table, s.Column, b.name(), b.Keying)
	if err != nil {
		return nil, fmt.Errorf("field: %s.%s: %w", s.Table, s.Column, err)
	}
	return indexerHash(x, b.normalized(plaintext), b.bits())
}

// IndexLookupValues returns the values an equality query on plaintext
// matches b's column against (WHERE bidx IN (...)): for IndexStable one,
// under the tenant's active index key (IndexRotating: the version before
// it); for IndexLegacy one per live data
// key version, newest first, since a row carries the index of the version
// it was written under; for IndexMigrating both; for IndexAuto the index
// key's and one per data key version the key store says a release before
// index keys may have used (Keys.LegacyIndexCiphers: none for a tenant
// created since). A tenant without keys gets none: no row can match.
func (e *Engine) IndexLookupValues(ctx context.Context, s Scope, b *BlindIndex, plaintext []byte) ([][]byte, error) {
	norm := b.normalized(plaintext)
	var out [][]byte
	if b.Keying != IndexLegacy {
		tenant, err := e.ResolveTenant(ctx, s.Tenant)
		if err != nil {
			return nil, err
		}
		// The active index key only: one value. An older index key
		// version matches nothing once the index moved off it (see
		// docs/ROTATING.md, "Rotating an index key").
		x, err := e.lookupIndexer(ctx, tenant, s.Table, s.Column, b.name(), b.Keying)
		if err != nil {
			return nil, fmt.Errorf("field: %s.%s: %w", s.Table, s.Column, err)
		}
		if x != nil {
			v, err := indexerHash(x, norm, b.bits())
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if b.Keying == IndexAuto {
			return e.appendLegacyIndexes(ctx, out, tenant, s, b, norm)
		}
		if b.Keying != IndexMigrating {
			return out, nil
		}
	}
	legacy, err := e.eachLiveCipher(ctx, s, func(c *cipher.Cipher) ([]byte, error) {
		return keyedHash(c, norm, b.bits())
	})
	if err != nil {
		return nil, err
	}
	return append(out, legacy...), nil
}

// appendLegacyIndexes appends to out the legacy index of the normalized
// plaintext norm under each of the data key versions the key store says
// may hold one (IndexAuto).
func (e *Engine) appendLegacyIndexes(ctx context.Context, out [][]byte, tenant string, s Scope, b *BlindIndex, norm []byte) ([][]byte, error) {
	ciphers, err := e.s.keys.LegacyIndexCiphers(ctx, tenant, s.Table, s.Column)
	if err != nil {
		return nil, fmt.Errorf("field: %s.%s: %w", s.Table, s.Column, err)
	}
	for _, c := range ciphers {
		v, err := keyedHash(c, norm, b.bits())
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// normalized applies the index's normalizers to plaintext.
func (b *BlindIndex) normalized(plaintext []byte) []byte {
	if b.normalize == nil {
		return plaintext
	}
	return []byte(b.normalize(string(plaintext)))
}

// DeterministicCandidates returns the deterministic value of plaintext
// under every live key version of the tenant, newest first, for an
// equality query on a deterministic column (WHERE col IN (...)).
func (e *Engine) DeterministicCandidates(ctx context.Context, s Scope, plaintext []byte) ([][]byte, error) {
	return e.eachLiveCipher(ctx, s, func(c *cipher.Cipher) ([]byte, error) {
		return c.SealDeterministic(nil, plaintext)
	})
}

func (e *Engine) eachLiveCipher(ctx context.Context, s Scope, f func(*cipher.Cipher) ([]byte, error)) ([][]byte, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	// Creating the tenant's first key here would be harmless, but a lookup
	// of an unknown tenant should not write; LiveCiphers returns none then.
	ciphers, err := e.s.keys.LiveCiphers(ctx, tenant, s.Table, s.Column)
	if err != nil {
		return nil, fmt.Errorf("field: %s.%s: %w", s.Table, s.Column, err)
	}
	out := make([][]byte, 0, len(ciphers))
	for _, c := range ciphers {
		v, err := f(c)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
