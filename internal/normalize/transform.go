package normalize

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The transforms below take a part of a value rather than normalizing all
// of it, for indexes that match on a piece (the last four digits of an
// SSN, a first initial): CipherSweet's and blind_index's vocabulary. They
// count code points, not bytes, so a cut never splits a UTF-8 sequence; a
// byte that is not valid UTF-8 counts as one code point and is kept as it
// is.

// MaxCut bounds the N of first<N> and last<N>: an index over more than
// this many code points of a value is an index over the value.
const MaxCut = 255

// initial keeps the first letter or digit of s (general category L or
// Nd), dropping everything before it: "  o'Brien" → "o". A value without
// one becomes empty.
func initial(s string) string {
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			_, n := utf8.DecodeRuneInString(s[i:])
			return s[i : i+n]
		}
	}
	return ""
}

// firstN keeps the first n code points of s (all of s if shorter).
func firstN(n int) Func {
	return func(s string) string {
		i, count := 0, 0
		for i < len(s) && count < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			count++
		}
		return s[:i]
	}
}

// lastN keeps the last n code points of s (all of s if shorter).
func lastN(n int) Func {
	return func(s string) string {
		i, count := len(s), 0
		for i > 0 && count < n {
			_, size := utf8.DecodeLastRuneInString(s[:i])
			i -= size
			count++
		}
		return s[i:]
	}
}

// cut parses first<N> and last<N>: N in decimal, 1 to MaxCut, without a
// sign or leading zeros, so that one transform has one spelling.
func cut(name string) (Func, bool) {
	var (
		digits string
		mk     func(int) Func
	)
	switch {
	case strings.HasPrefix(name, "first"):
		digits, mk = name[len("first"):], firstN
	case strings.HasPrefix(name, "last"):
		digits, mk = name[len("last"):], lastN
	default:
		return nil, false
	}
	if digits == "" || digits[0] < '1' || digits[0] > '9' {
		return nil, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > MaxCut {
		return nil, false
	}
	return mk(n), true
}
