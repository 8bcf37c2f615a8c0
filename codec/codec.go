// Package codec is colcrypt's stored value format: what a column holds and
// how to tell what it is, without any key.
//
// A stored value is a short header (magic byte, algorithm, key version)
// followed by the AEAD output (docs/FORMAT.md specifies it byte by byte,
// with known-answer vectors in testdata/). [IsValue] and [IsArmored] tell
// a value from a column's old plaintext during a migration, [Parse] splits
// a value and names the key version that sealed it, [Dearmor] and [Armor]
// convert between the binary form and the text armor of text columns, and
// [Overhead] sizes a column. The header and the canonical encoding of the
// value's [Scope] (tenant, table, column) are the AEAD's associated data,
// so a value copied into another tenant's row, another column, or
// relabelled with another key version fails to open with [ErrAuth].
//
// Sealing and opening are the job of package field (and of the
// integrations on top of it), which derive per-column keys from the
// tenant's data key; the ciphers themselves are internal.
//
// # Modes
//
// Randomized ([AESGCM], the default) is AES-256-GCM with a fresh 96-bit
// random nonce per value. Random nonces bound the number of values per
// key: colcrypt documents 2^32 values per (tenant, table, column, key
// version), which keeps the collision probability below 2^-32; rotating
// the tenant's key starts a new one.
//
// Deterministic ([AESSIV], opt-in, for equality lookups) is AES-SIV
// (AEAD_AES_SIV_CMAC_512, RFC 5297). Equal plaintexts in the same scope
// give equal values, which is the point and the leak.
//
// # Errors
//
// Every way a value can fail to open — a flipped bit anywhere, a wrong
// tenant, table, column, key or version, a truncated or malformed value —
// returns exactly [ErrAuth]. [Parse] and [Dearmor], which callers use to
// route a value to the right key version, return [ErrMalformed] or
// [ErrUnsupported] with no detail taken from the input.
package codec

import "errors"

// Algorithm identifies the AEAD that produced a value. It is byte 1 of the
// stored format.
type Algorithm uint8

const (
	// AESGCM is randomized AES-256-GCM with a 96-bit random nonce.
	AESGCM Algorithm = 1
	// AESSIV is deterministic AES-SIV (AEAD_AES_SIV_CMAC_512, RFC 5297).
	AESSIV Algorithm = 2
)

func (a Algorithm) String() string {
	switch a {
	case AESGCM:
		return "AES-256-GCM"
	case AESSIV:
		return "AES-SIV-CMAC-512"
	}
	return "unknown"
}

var (
	// ErrAuth is returned for every way a value can fail to open.
	ErrAuth = errors.New("codec: message authentication failed")
	// ErrMalformed is returned by Parse for bytes that are not a
	// well-formed colcrypt value.
	ErrMalformed = errors.New("codec: malformed value")
	// ErrUnsupported is returned by Parse for a value in a format version or
	// algorithm this build does not know.
	ErrUnsupported = errors.New("codec: unsupported value format or algorithm")
)
