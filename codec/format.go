package codec

import (
	"encoding/binary"
	"math"
)

// Magic is byte 0 of every v1 value. 0xC0 can never start a valid UTF-8
// sequence, so no text a column held before encryption looks like a value,
// and a reader can tell the two apart during a migration.
const Magic byte = 0xC0

const (
	nonceSize = 12 // AES-GCM standard nonce
	tagSize   = 16 // AES-GCM tag
	sivSize   = 16 // the synthetic IV that leads an AES-SIV ciphertext

	// MaxValueSize bounds every value the parser accepts, so no input can
	// make it allocate or work without limit. Writers seal at most 64
	// bytes less of plaintext, so every value written is one a reader
	// accepts.
	MaxValueSize = 64 << 20
)

// Value is a parsed stored value. Its slices alias the parsed input.
type Value struct {
	Algorithm  Algorithm
	KeyVersion uint32
	// Header is the magic byte, algorithm and encoded key version: the
	// first part of the associated data.
	Header []byte
	// Nonce is the GCM nonce; empty for AES-SIV.
	Nonce []byte
	// Ciphertext is the AEAD output after the nonce: ciphertext‖tag for
	// GCM, synthetic IV‖ciphertext for SIV.
	Ciphertext []byte
}

// IsValue reports whether b starts like a colcrypt value. It looks at the
// magic byte only: a true result does not mean b parses or authenticates.
func IsValue(b []byte) bool { return len(b) > 0 && b[0] == Magic }

// Parse splits a stored value into its parts, checking every length and
// bound. It does not authenticate: only opening the value under its key
// does.
//
// Parse runs on every open, so it is written for speed: a one-byte key
// version (below 128, nearly every one) skips the varint loop, and each
// case returns its Value whole rather than filling in a zeroed one.
func Parse(b []byte) (Value, error) {
	if len(b) < 3 || len(b) > MaxValueSize || b[0] != Magic {
		return Value{}, ErrMalformed
	}
	ver, n := uint64(b[2]), 1
	if ver >= 0x80 {
		ver, n = binary.Uvarint(b[2:])
		if n <= 0 || ver > math.MaxUint32 || n != uvarintLen(ver) {
			// n <= 0: truncated or overflowing; a longer encoding than
			// needed would give one version two headers, so it is
			// rejected too.
			return Value{}, ErrMalformed
		}
	}
	if ver == 0 {
		return Value{}, ErrMalformed
	}
	// Header and Nonce are capped so that appending to them (building an
	// AAD from v.Header, say) cannot overwrite the bytes that follow.
	h := 2 + n
	rest := b[h:]
	switch alg := Algorithm(b[1]); alg {
	case AESGCM:
		if len(rest) < nonceSize+tagSize {
			return Value{}, ErrMalformed
		}
		return Value{Algorithm: alg, KeyVersion: uint32(ver), Header: b[:h:h],
			Nonce: rest[:nonceSize:nonceSize], Ciphertext: rest[nonceSize:]}, nil
	case AESSIV:
		if len(rest) < sivSize {
			return Value{}, ErrMalformed
		}
		return Value{Algorithm: alg, KeyVersion: uint32(ver), Header: b[:h:h], Ciphertext: rest}, nil
	}
	return Value{}, ErrUnsupported
}

// headerLen is the length of a v1 header for version.
func headerLen(version uint32) int { return 2 + uvarintLen(uint64(version)) }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// Overhead returns how many bytes a value of alg under version adds to its
// plaintext: 31 for GCM below version 128.
func Overhead(alg Algorithm, version uint32) int {
	h := headerLen(version)
	switch alg {
	case AESGCM:
		return h + nonceSize + tagSize
	case AESSIV:
		return h + sivSize
	}
	return 0
}
