// Package cipher seals and opens colcrypt values (the format of package
// codec) for one tenant, table, column and key version. It is internal:
// users seal through package field, which asks the key store for a
// [Cipher] and holds the rules about keys (destruction, new versions,
// row binding) in one place.
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
// Randomized is AES-256-GCM from crypto/cipher with a fresh 96-bit random
// nonce per value. Deterministic is AES-SIV (AEAD_AES_SIV_CMAC_512, RFC
// 5297), implemented here over crypto/aes (siv.go) so that its key
// schedules, CMAC subkeys and the S2V of the fixed associated data are
// computed once per Cipher; the tests check it against the RFC's vectors
// and, fuzzed, against Tink's AES-SIV. A blind index is HMAC-SHA256 under
// its own subkey over the normalized plaintext, truncated.
//
// # Key material in memory
//
// A Cipher holds its subkeys until [Cipher.Destroy], or until the garbage
// collector finds it unreachable, and then zeroes the bytes it can reach;
// its doc lists what the standard library keeps out of reach. Every type
// that holds key material prints as [redacted] under every fmt verb, in
// JSON and in log/slog, by pointer and by value. [Nonces] cannot be
// shared by copying it: a copy reads its own nonces.
package cipher
