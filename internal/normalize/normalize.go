// Package normalize holds the normalizers a blind index applies before it
// hashes a value (the tag's normalize: option), so that inputs that mean
// the same match. docs/FORMAT.md defines each one exactly, and
// codec/testdata/normalizers.json pins their outputs for a second
// implementation.
package normalize

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A Func maps equal-meaning inputs to one string before a blind index
// is computed, so "Ann@Example.com " and "ann@example.com" match.
type Func func(string) string

var normalizers = map[string]Func{
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
	// initial: the first letter or digit only (transform.go).
	"initial": initial,
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

// Names lists the normalizers Lookup knows by a fixed name; Lookup also
// knows the families first<N> and last<N> (transform.go).
func Names() []string {
	out := make([]string, 0, len(normalizers))
	for n := range normalizers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the normalizer called name.
func Lookup(name string) (Func, error) {
	if n, ok := normalizers[name]; ok {
		return n, nil
	}
	if n, ok := cut(name); ok {
		return n, nil
	}
	return nil, fmt.Errorf("normalize: unknown normalizer %q (known: %s, first<N>, last<N> with N from 1 to %d)", name, strings.Join(Names(), ", "), MaxCut)
}

// Chain applies normalizers in order.
func Chain(ns ...Func) Func {
	return func(s string) string {
		for _, n := range ns {
			s = n(s)
		}
		return s
	}
}
