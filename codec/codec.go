// Package codec is colcrypt's value format and cryptography: pure functions
// and immutable types, no I/O, no globals that change.
//
// A stored value is a short header (magic byte, algorithm, key version)
// followed by the AEAD output. The header and the canonical encoding of the
// value's [Scope] (tenant, table, column) are the AEAD's associated data, so
// a value copied into another tenant's row, another column, or relabelled
// with another key version fails to open with [ErrAuth].
//
// # Key derivation
//
// A tenant's data key (DEK) is never used directly. [NewCipher] derives
// independent subkeys for one table and column with HKDF-SHA256:
//
//	gcm  = HKDF(DEK, info = "colcrypt/v1/gcm"  ‖ len‖table ‖ len‖column)  32 bytes
//	siv  = HKDF(DEK, info = "colcrypt/v1/siv"  ‖ len‖table ‖ len‖column)  64 bytes
//	bidx = HKDF(DEK, info = "colcrypt/v1/bidx" ‖ len‖table ‖ len‖column)  32 bytes
//
// so a weakness in one mode or column cannot spill into another.
//
// # Modes
//
// Randomized (the default) is AES-256-GCM with a fresh 96-bit random nonce
// per value. Random nonces bound the number of values per subkey: colcrypt
// documents 2^32 values per (tenant, table, column, key version), which
// keeps the collision probability below 2^-32; rotating the tenant's key
// starts a new subkey.
//
// Deterministic (opt-in, for equality lookups) is AES-SIV
// (AEAD_AES_SIV_CMAC_512, RFC 5297) from Google's Tink. Equal plaintexts in
// the same scope give equal values, which is the point and the leak.
//
// A blind index is HMAC-SHA256 under its own subkey over the normalized
// plaintext, truncated; it leaks equality of normalized values too.
//
// # Errors
//
// Every way a value can fail to open — a flipped bit anywhere, a wrong
// tenant, table, column, key or version, a truncated or malformed value —
// returns exactly [ErrAuth]. [Parse], which callers use to route a value to
// the right key version, returns [ErrMalformed] or [ErrUnsupported] with no
// detail taken from the input. A [Cipher] whose key was destroyed returns
// [ErrCipherDestroyed] from every call instead.
//
// # Key material in memory
//
// A Cipher holds its subkeys until [Cipher.Destroy], or until the garbage
// collector finds it unreachable, and then zeroes the bytes it can reach;
// its doc lists what the standard library keeps out of reach. Every type
// that holds key material prints as [redacted] under every fmt verb, in
// JSON and in log/slog, by pointer and by value. [Nonces] cannot be
// shared by copying it: a copy reads its own nonces.
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

// DEKSize is the size in bytes of a tenant data key.
const DEKSize = 32

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
