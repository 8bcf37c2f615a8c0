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
	return &BlindIndex{Column: column, Length: length, Bits: bits, Normalizers: normalizers, normalize: normalize.Chain(ns...)}, nil
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

// hash is the blind index of plaintext under c.
func (b *BlindIndex) hash(c *cipher.Cipher, plaintext []byte) ([]byte, error) {
	return keyedHash(c, []byte(b.normalizeText(string(plaintext))), b.bits())
}

// normalizeText applies the index's normalizers.
func (b *BlindIndex) normalizeText(s string) string {
	if b.normalize == nil {
		return s
	}
	return b.normalize(s)
}

// BlindIndex computes the blind index of plaintext for the encrypted
// column s under the tenant's active key: the value to store beside a
// newly sealed value.
func (e *Engine) BlindIndex(ctx context.Context, s Scope, b *BlindIndex, plaintext []byte) ([]byte, error) {
	c, _, err := e.activeCipher(ctx, s)
	if err != nil {
		return nil, err
	}
	return b.hash(c, plaintext)
}

// BlindIndexCandidates returns the blind index of plaintext under every
// live key version of the tenant, newest first: a row written before the
// last rotation carries the index of its own version, so an equality
// query must match any of them (WHERE bidx IN (...)).
func (e *Engine) BlindIndexCandidates(ctx context.Context, s Scope, b *BlindIndex, plaintext []byte) ([][]byte, error) {
	norm := []byte(b.normalizeText(string(plaintext)))
	return e.eachLiveCipher(ctx, s, func(c *cipher.Cipher) ([]byte, error) {
		return keyedHash(c, norm, b.bits())
	})
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
