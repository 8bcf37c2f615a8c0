package cipher

import (
	"errors"
	"sync"

	"github.com/colcrypt/colcrypt/codec"
)

// Row binding.
//
// A value's associated data names its tenant, table and column, so a value
// moved to another tenant or column fails to open; one moved to another
// row of the same tenant and column still opens. A bound value adds a row
// part, chosen by the application (a UUID or natural key of the row known
// before the insert), so it opens only in the row that carries that key:
//
//	aad = header ‖ canonical(tenant, table, column) ‖ canonical("colcrypt/v1/row", row)
//
// The row part is the length-prefixed label followed by the length-prefixed
// row key. Values without binding keep the associated data they always
// had (no trailing part at all), so an unbound value never opens as a
// bound one, and a binding to the empty key differs from none. The label
// keeps the row part from being read as anything else a later format may
// append.

// rowLabel is the domain marker of the row part of the associated data.
const rowLabel = "colcrypt/v1/row"

// rowAADBuf is the capacity of the pooled buffers a bound call assembles
// its associated data in: a header, a scope of short names and a UUID
// fit. Longer ones grow the buffer; buffers above maxPooledAAD are left
// to the garbage collector rather than kept.
const (
	rowAADBuf    = 192
	maxPooledAAD = 4 << 10
)

// rowAADs holds the buffers of bound calls. The AEADs take the associated
// data through an interface, so a local array would move to the heap on
// every call; a pool keeps the warm bound path free of allocations. The
// bytes are not secret (names and a row key stored in the clear).
var rowAADs = sync.Pool{New: func() any { b := make([]byte, 0, rowAADBuf); return &b }}

// rowAAD returns a pooled buffer holding aad (the Cipher's header ‖ scope)
// followed by the row part; give it back with putRowAAD.
func rowAAD(aad []byte, row string) *[]byte {
	p := rowAADs.Get().(*[]byte)
	*p = appendRowAAD((*p)[:0], aad, row)
	return p
}

func putRowAAD(p *[]byte) {
	if cap(*p) <= maxPooledAAD {
		rowAADs.Put(p)
	}
}

// appendRowAAD appends aad and the row part to dst.
func appendRowAAD(dst, aad []byte, row string) []byte {
	dst = append(dst, aad...)
	dst = appendLP(dst, rowLabel)
	return appendLP(dst, row)
}

// SealRow is Seal for a value bound to one row: the row key is part of
// its associated data, and the value opens only with OpenValueRow and
// the same key. An empty row is a binding too, distinct from none; the
// callers in field refuse it before it gets here.
func (c *Cipher) SealRow(dst, plaintext []byte, row string) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	aad := rowAAD(c.gcmAAD, row)
	defer putRowAAD(aad)
	return c.sealGCM(dst, plaintext, *aad), nil
}

// SealDeterministicRow is SealDeterministic for a value bound to one row:
// equal plaintexts give equal values only within one row key.
func (c *Cipher) SealDeterministicRow(dst, plaintext []byte, row string) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	s, err := c.sivState()
	if err != nil {
		return nil, err
	}
	aad := rowAAD(s.aad, row)
	defer putRowAAD(aad)
	return c.sealSIV(dst, plaintext, s, aad)
}

// OpenValueRow is OpenValue for a value sealed by SealRow or
// SealDeterministicRow with the same row key. Every failure is ErrAuth:
// an unbound value, a value bound to another row, and a tampered one
// alike.
func (c *Cipher) OpenValueRow(dst []byte, v codec.Value, row string) ([]byte, error) {
	if v.KeyVersion != c.version {
		return nil, codec.ErrAuth
	}
	switch v.Algorithm {
	case codec.AESGCM:
		if len(v.Nonce) != nonceSize {
			return nil, codec.ErrAuth
		}
		aad := rowAAD(c.gcmAAD, row)
		defer putRowAAD(aad)
		out, err := c.k.gcm.Open(dst, v.Nonce, v.Ciphertext, *aad)
		if err != nil {
			return nil, codec.ErrAuth
		}
		return out, nil
	case codec.AESSIV:
		s, err := c.sivState()
		if err != nil {
			return nil, err
		}
		aad := rowAAD(s.aad, row)
		defer putRowAAD(aad)
		return c.openSIV(dst, v.Ciphertext, s, aad)
	}
	return nil, codec.ErrAuth
}
