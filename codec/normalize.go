package codec

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A Normalizer maps equal-meaning inputs to one string before a blind index
// is computed, so "Ann@Example.com " and "ann@example.com" match.
type Normalizer func(string) string

var normalizers = map[string]Normalizer{
	// lower: Unicode lower case.
	"lower": strings.ToLower,
	// upper: Unicode upper case.
	"upper": strings.ToUpper,
	// trim: leading and trailing white space removed.
	"trim": strings.TrimSpace,
	// nfkc: Unicode NFKC, so compatibility forms (full-width letters,
	// ligatures) compare equal.
	"nfkc": norm.NFKC.String,
	// space: every run of white space collapsed to one ASCII space.
	"space": func(s string) string { return strings.Join(strings.Fields(s), " ") },
	// digits: everything but decimal digits removed (phone numbers, SSNs).
	"digits": func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	},
	// alnum: everything but letters and digits removed.
	"alnum": func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return r
			}
			return -1
		}, s)
	},
}

// NormalizerNames lists the normalizers LookupNormalizer knows.
func NormalizerNames() []string {
	out := make([]string, 0, len(normalizers))
	for n := range normalizers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupNormalizer returns the normalizer called name.
func LookupNormalizer(name string) (Normalizer, error) {
	n, ok := normalizers[name]
	if !ok {
		return nil, fmt.Errorf("codec: unknown normalizer %q (known: %s)", name, strings.Join(NormalizerNames(), ", "))
	}
	return n, nil
}

// Chain applies normalizers in order.
func Chain(ns ...Normalizer) Normalizer {
	return func(s string) string {
		for _, n := range ns {
			s = n(s)
		}
		return s
	}
}
