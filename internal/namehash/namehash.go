// Package namehash hashes the short names of an application's schema —
// table and column names — into a word, fast enough for the key cache's
// lock-free lookups on every seal and open.
//
// It is not a hash for data chosen by users: tenant ids, which come from
// outside, go through hash/maphash with a per-process seed instead.
package namehash

import "math/bits"

// Words folds s, its length and every byte of it, into a word: 8-byte
// words folded by 128-bit multiplication by key, the last 1 to 8 bytes
// read as overlapping words, and the result folded once more by last (the
// scheme of wyhash, and of the Go runtime's own fallback hash). seed
// starts the fold. Callers seed it at random where a lookup's speed must
// not depend on the names (keystore's cipher index), or fix every
// constant where the hash is only a filter (cipher.ColumnTag).
func Words(s string, seed, key, last uint64) uint64 {
	h := seed ^ uint64(len(s))
	for ; len(s) > 8; s = s[8:] {
		h = mulFold(h^le64(s), key)
	}
	// The last 1 to 8 bytes, read as overlapping words: len(s) is already
	// in h, so the overlap is unambiguous.
	var w uint64
	switch n := len(s); {
	case n == 8:
		w = le64(s)
	case n >= 4:
		w = le32(s) | le32(s[n-4:])<<32
	case n > 0:
		w = uint64(s[0])<<16 | uint64(s[n/2])<<8 | uint64(s[n-1])
	}
	return mulFold(h^w, last)
}

// mulFold multiplies a by b into 128 bits and folds the halves together.
func mulFold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// le64 and le32 read little-endian words from a string; the compiler
// turns each into one load.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}
