package normalize

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalizers(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"lower", "Ann@Example.COM", "ann@example.com"},
		{"lower", "ÀÉÎ ΣΑΣ", "àéî σασ"},
		{"lower", "", ""},
		{"upper", "ann@example.com", "ANN@EXAMPLE.COM"},
		// Go's simple per-rune case mapping: ß has no one-rune upper case.
		{"upper", "straße", "STRAßE"},
		{"trim", "  ann@example.com\t\n", "ann@example.com"},
		{"trim", "\u00a0x\u3000", "x"}, // Unicode white space too
		{"trim", "a b", "a b"},
		{"nfkc", "ｆｕｌｌ", "full"},
		{"nfkc", "ﬁle", "file"},
		{"nfkc", "e\u0301", "é"}, // composed
		{"nfkc", "①", "1"},
		{"space", "  Ann   van\tder\n Berg ", "Ann van der Berg"},
		{"space", "", ""},
		{"space", "   ", ""},
		{"digits", "+1 (555) 010-9999", "15550109999"},
		{"digits", "123-45-6789", "123456789"},
		{"digits", "٣٤", ""}, // ASCII digits only
		{"digits", "no digits", ""},
		{"alnum", "Ann-Marie O'Neil, 3rd!", "AnnMarieONeil3rd"},
		{"alnum", "Zoë 42 ✓", "Zoë42"},
	} {
		n, err := Lookup(tc.name)
		if err != nil {
			t.Fatalf("Lookup(%q) err = %v", tc.name, err)
		}
		if got := n(tc.in); got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestNormalizersIdempotent(t *testing.T) {
	inputs := []string{"", " Ann@Example.COM ", "ｆｕｌｌ ﬁle ①", "+1 (555) 010-9999", "Zoë\t\tÅngström", "straße"}
	for _, name := range Names() {
		n, _ := Lookup(name)
		for _, in := range inputs {
			once := n(in)
			if twice := n(once); twice != once {
				t.Errorf("%s(%s(%q)) = %q, want %q (idempotent)", name, name, in, twice, once)
			}
		}
	}
}

func TestChain(t *testing.T) {
	get := func(name string) Func {
		n, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		names    []string
		in, want string
	}{
		{nil, " As Is ", " As Is "},
		{[]string{"trim", "lower"}, "  Ann@Example.COM ", "ann@example.com"},
		{[]string{"nfkc", "lower", "space"}, " ＡＮＮ   Ｂ ", "ann b"},
		// Order matters: NFKC turns ① into a digit.
		{[]string{"nfkc", "digits"}, "①2", "12"},
		{[]string{"digits", "nfkc"}, "①2", "2"},
		{[]string{"digits", "trim"}, " 12 34 ", "1234"},
	} {
		var ns []Func
		for _, name := range tc.names {
			ns = append(ns, get(name))
		}
		if got := Chain(ns...)(tc.in); got != tc.want {
			t.Errorf("Chain(%s)(%q) = %q, want %q", strings.Join(tc.names, ","), tc.in, got, tc.want)
		}
	}
}

func TestLookupNormalizerUnknown(t *testing.T) {
	for _, name := range []string{"", "Lower", "lower ", "nfc", "lower,trim"} {
		n, err := Lookup(name)
		if err == nil || n != nil {
			t.Errorf("Lookup(%q) = %v, %v, want an error", name, n != nil, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "normalize: ") || !strings.Contains(msg, "lower") {
			t.Errorf("Lookup(%q) err = %q, want a normalize: error listing the known names", name, msg)
		}
	}
}

func TestNormalizerNames(t *testing.T) {
	got := Names()
	want := []string{"alnum", "digits", "initial", "lower", "nfkc", "space", "trim", "upper"}
	if !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}
