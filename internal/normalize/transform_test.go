package normalize

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTransforms(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"last4", "123-45-6789", "6789"},
		{"last4", "6789", "6789"},
		{"last4", "89", "89"},
		{"last4", "", ""},
		{"last1", "ab\xff", "\xff"}, // an invalid byte is one code point
		{"last2", "naïve", "ve"},
		{"last3", "naïve", "ïve"},
		{"first1", "Émile", "É"},
		{"first2", "a", "a"},
		{"first3", "ab\xffcd", "ab\xff"},
		{"first255", strings.Repeat("x", 300), strings.Repeat("x", 255)},
		{"initial", "Ann", "A"},
		{"initial", "  o'Brien", "o"},
		{"initial", "'7 Seas", "7"},
		{"initial", "\xffAnn", "A"},
		{"initial", "", ""},
		{"initial", "  ", ""},
	}
	for _, tt := range tests {
		f, err := Lookup(tt.name)
		if err != nil {
			t.Fatalf("Lookup(%q) err = %v", tt.name, err)
		}
		if got := f(tt.in); got != tt.want {
			t.Errorf("%s(%+q) = %+q, want %+q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestTransformSpelling: each cut has one spelling, and N is bounded.
func TestTransformSpelling(t *testing.T) {
	for _, name := range []string{"last", "last0", "last04", "last-1", "last+1", "last256", "last1e2",
		"first", "first0", "first 3", "First3", "prefix3", "last99999999999999999999", "initial1"} {
		if f, err := Lookup(name); err == nil || f != nil {
			t.Errorf("Lookup(%q) = %v, %v, want an error", name, f != nil, err)
		}
	}
	for _, name := range []string{"last1", "last255", "first1", "first10"} {
		if _, err := Lookup(name); err != nil {
			t.Errorf("Lookup(%q) err = %v, want nil", name, err)
		}
	}
}

// FuzzTransforms checks what every cut must keep: a suffix or prefix of
// its input, never longer than N code points, never a split UTF-8
// sequence of valid input, and initial a single letter or digit.
func FuzzTransforms(f *testing.F) {
	for _, s := range []string{"", "123-45-6789", "  o'Brien", "naïve", "\xff\xfe", "日本語テキスト"} {
		f.Add(s, uint8(4))
	}
	f.Fuzz(func(t *testing.T, s string, n uint8) {
		if n == 0 {
			n = 1
		}
		last, _ := cut("last" + strconv.Itoa(int(n)))
		first, _ := cut("first" + strconv.Itoa(int(n)))
		l, p := last(s), first(s)
		if !strings.HasSuffix(s, l) || !strings.HasPrefix(s, p) {
			t.Fatalf("last/first%d(%+q) = %+q, %+q: not a suffix/prefix", n, s, l, p)
		}
		if c := utf8.RuneCountInString(l); c > int(n) || (c < int(n) && l != s) {
			t.Fatalf("last%d(%+q) = %+q: %d code points", n, s, l, c)
		}
		if c := utf8.RuneCountInString(p); c > int(n) || (c < int(n) && p != s) {
			t.Fatalf("first%d(%+q) = %+q: %d code points", n, s, p, c)
		}
		if utf8.ValidString(s) && (!utf8.ValidString(l) || !utf8.ValidString(p)) {
			t.Fatalf("a cut of valid %+q is invalid: %+q, %+q", s, l, p)
		}
		if i := initial(s); i != "" && (utf8.RuneCountInString(i) != 1 || !strings.Contains(s, i)) {
			t.Fatalf("initial(%+q) = %+q", s, i)
		}
	})
}
