package fieldcore

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTag(t *testing.T) {
	tests := []struct {
		tag  string
		want Spec
		bidx *BlindIndex // compared without the normalize func
	}{
		{tag: "", want: Spec{}},
		{tag: "tenant", want: Spec{Tenant: true}},
		{tag: "deterministic", want: Spec{Mode: Deterministic}},
		{tag: "randomized", want: Spec{Mode: Randomized}},
		{tag: " armor , allowplaintext ", want: Spec{Armor: true, AllowPlaintext: true}},
		{tag: "blindindex:email_bidx", bidx: &BlindIndex{Column: "email_bidx", Length: 16, Normalizers: nil}},
		{tag: "blindindex:email_bidx,normalize:trim+lower,bidxlen:8",
			bidx: &BlindIndex{Column: "email_bidx", Length: 8, Normalizers: []string{"trim", "lower"}}},
		{tag: "DETERMINISTIC", want: Spec{Mode: Deterministic}},
		{tag: "bind:ExternalID", want: Spec{Bind: "ExternalID"}},
		{tag: "deterministic, bind: ID", want: Spec{Mode: Deterministic, Bind: "ID"}},
	}
	for _, tt := range tests {
		got, err := ParseTag("Email", tt.tag)
		if err != nil {
			t.Errorf("ParseTag(%q) err = %v, want nil", tt.tag, err)
			continue
		}
		gotBidx := got.BlindIndex
		got.BlindIndex = nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseTag(%q) = %+v, want %+v", tt.tag, got, tt.want)
		}
		if (gotBidx == nil) != (tt.bidx == nil) {
			t.Errorf("ParseTag(%q).BlindIndex = %v, want %v", tt.tag, gotBidx, tt.bidx)
			continue
		}
		if gotBidx != nil && (gotBidx.Column != tt.bidx.Column || gotBidx.Length != tt.bidx.Length ||
			!reflect.DeepEqual(gotBidx.Normalizers, tt.bidx.Normalizers)) {
			t.Errorf("ParseTag(%q).BlindIndex = %+v, want %+v", tt.tag, gotBidx, tt.bidx)
		}
	}
}

func TestParseTagNormalizes(t *testing.T) {
	spec, err := ParseTag("Email", "blindindex:e,normalize:trim+lower")
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.BlindIndex.normalizeText("  Ann@Example.COM "); got != "ann@example.com" {
		t.Errorf("Normalize = %q, want %q", got, "ann@example.com")
	}
}

func TestParseTagErrors(t *testing.T) {
	tests := []struct{ tag, reason string }{
		{"nonsense", "unknown option"},
		{"deterministic,deterministic", "twice"},
		{"deterministic,randomized", "contradict"},
		{"tenant,deterministic", "tenant cannot be combined"},
		{"blindindex", "needs a value"},
		{"bind", "needs a value"},
		{"bind:", "needs a value"},
		{"bind:externalID", "not an exported Go field name"},
		{"bind:external_id,armor", "not an exported Go field name"},
		{"bind:A.B", "not an exported Go field name"},
		{"bind:A,bind:B", "twice"},
		{"tenant,bind:ID", "tenant cannot be combined"},
		{"blindindex:", "needs a value"},
		{"armor:yes", "takes no value"},
		{"normalize:lower", "need blindindex"},
		{"bidxlen:8", "need blindindex"},
		{"blindindex:b,bidxlen:x", "not a number"},
		{"blindindex:b,bidxlen:1", "outside"},
		{"blindindex:b,bidxlen:33", "outside"},
		{"blindindex:b,normalize:rot13", "unknown normalizer"},
		{",", "empty option"},
	}
	for _, tt := range tests {
		_, err := ParseTag("SSN", tt.tag)
		var te *TagError
		if !errors.As(err, &te) {
			t.Errorf("ParseTag(%q) err = %v, want *TagError", tt.tag, err)
			continue
		}
		if te.Field != "SSN" || !strings.Contains(err.Error(), "SSN") || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ParseTag(%q) err = %q, want it to name SSN and say %q", tt.tag, err, tt.reason)
		}
	}
}

func TestTagIndexKey(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		want IndexKeying
	}{
		{"blindindex:e_bidx", IndexAuto},
		{"blindindex:e_bidx,indexkey:auto", IndexAuto},
		{"blindindex:e_bidx,indexkey:stable", IndexStable},
		{"blindindex:e_bidx,indexkey:legacy", IndexLegacy},
		{"blindindex:e_bidx,indexkey:MIGRATING", IndexMigrating},
	} {
		spec, err := ParseTag("Email", tc.tag)
		if err != nil {
			t.Fatalf("ParseTag(%q) = %v", tc.tag, err)
		}
		if spec.BlindIndex.Keying != tc.want || spec.BlindIndex.Name != "e_bidx" {
			t.Errorf("ParseTag(%q) keying, name = %v, %q; want %v, e_bidx", tc.tag, spec.BlindIndex.Keying, spec.BlindIndex.Name, tc.want)
		}
	}
	for _, tag := range []string{"indexkey:legacy", "blindindex:e,indexkey:dek", "blindindex:e,indexkey", "blindindex:e,indexkey:legacy,indexkey:stable"} {
		var te *TagError
		if _, err := ParseTag("Email", tag); !errors.As(err, &te) {
			t.Errorf("ParseTag(%q) = %v, want a *TagError", tag, err)
		}
	}
}

func TestParseTagIndex(t *testing.T) {
	tests := []struct {
		tag   string
		name  string
		bits  int
		parts []IndexPart
	}{
		{"index:ssn_last4,parts:SSN/digits/last4,bits:16", "ssn_last4", 16,
			[]IndexPart{{Source: "SSN", Transforms: []string{"digits", "last4"}}}},
		{"index:ssn_zip, parts: SSN/last4 + Zip/trim , bits:20", "ssn_zip", 20,
			[]IndexPart{{Source: "SSN", Transforms: []string{"last4"}}, {Source: "Zip", Transforms: []string{"trim"}}}},
		{"parts:First/lower/initial+Last/lower,index:name_idx", "name_idx", DefaultIndexBits,
			[]IndexPart{{Source: "First", Transforms: []string{"lower", "initial"}}, {Source: "Last", Transforms: []string{"lower"}}}},
		{"index:raw,parts:Email", "raw", DefaultIndexBits, []IndexPart{{Source: "Email", Transforms: []string{}}}},
	}
	for _, tt := range tests {
		spec, err := ParseTag("Idx", tt.tag)
		if err != nil {
			t.Errorf("ParseTag(%q) err = %v", tt.tag, err)
			continue
		}
		ix := spec.Index
		if ix == nil || spec.BlindIndex != nil || spec.Mode != Randomized {
			t.Errorf("ParseTag(%q) = %+v, want an index only", tt.tag, spec)
			continue
		}
		if ix.Name != tt.name || ix.Bits != tt.bits || len(ix.Parts) != len(tt.parts) {
			t.Errorf("ParseTag(%q).Index = %s/%d bits/%d parts, want %s/%d/%d", tt.tag, ix.Name, ix.Bits, len(ix.Parts), tt.name, tt.bits, len(tt.parts))
			continue
		}
		for i, p := range ix.Parts {
			if p.Source != tt.parts[i].Source || strings.Join(p.Transforms, "/") != strings.Join(tt.parts[i].Transforms, "/") {
				t.Errorf("ParseTag(%q) part %d = %+v, want %+v", tt.tag, i, p, tt.parts[i])
			}
		}
	}
	spec, err := ParseTag("Email", "blindindex:email_bidx,bits:20")
	if err != nil || spec.BlindIndex.Bits != 20 || spec.BlindIndex.Length != 3 {
		t.Errorf("ParseTag(bits:20) = %+v, %v, want a 20-bit, 3-byte blind index", spec.BlindIndex, err)
	}
}

func TestParseTagIndexErrors(t *testing.T) {
	tests := []struct{ tag, reason string }{
		{"index:ssn_zip", "needs both"},
		{"parts:SSN+Zip", "needs both"},
		{"index:ssn_zip,parts:SSN,deterministic", "takes parts, bits and indexkey only"},
		{"index:ssn_zip,parts:SSN,armor", "takes parts, bits and indexkey only"},
		{"index:ssn_zip,parts:SSN,normalize:lower", "takes parts, bits and indexkey only"},
		{"index:ssn_zip,parts:SSN,indexkey:legacy", "a named index is under the index key"},
		{"index:ssn-zip,parts:SSN", "letters, digits and underscores"},
		{"index:i,parts:SSN,bits:15", "outside"},
		{"index:i,parts:SSN,bits:257", "outside"},
		{"index:i,parts:SSN,bits:0", "not a number of bits"},
		{"index:i,parts:SSN,bits:x", "not a number of bits"},
		{"index:i,parts:SSN/last0", "unknown normalizer"},
		{"index:i,parts:SSN/rot13", "unknown normalizer"},
		{"index:i,parts:SSN+", "empty source"},
		{"index:i,parts:SSN//last4", "empty source"},
		{"index:i,parts:/last4", "empty source"},
		{"index:i,parts:S.N", "not a field name"},
		{"index:i,parts:A+B+C+D+E+F+G+H+I", "1 to 8"},
		{"index:,parts:SSN", "needs a value"},
		{"bits:32", "need blindindex"},
		{"blindindex:b,bits:32,bidxlen:4", "use one"},
		{"blindindex:b,bits:8", "outside"},
	}
	for _, tt := range tests {
		_, err := ParseTag("Idx", tt.tag)
		var te *TagError
		if !errors.As(err, &te) {
			t.Errorf("ParseTag(%q) err = %v, want *TagError", tt.tag, err)
			continue
		}
		if te.Field != "Idx" || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ParseTag(%q) err = %q, want it to name Idx and say %q", tt.tag, err, tt.reason)
		}
	}
}

// FuzzParseTag: any tag either parses into a configuration whose bounds
// hold, or fails with a *TagError naming the field; it never panics.
func FuzzParseTag(f *testing.F) {
	for _, s := range []string{
		"", "tenant", "deterministic,armor", "blindindex:email_bidx,normalize:trim+lower,bidxlen:8",
		"blindindex:b,bits:20", "index:ssn_zip,parts:SSN/digits/last4+Zip/trim,bits:32",
		"index:n,parts:First/lower/initial+Last", "bind:ID", "index:i,parts:A+B+C+D+E+F+G+H+I",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		spec, err := ParseTag("F", tag)
		if err != nil {
			var te *TagError
			if !errors.As(err, &te) || te.Field != "F" {
				t.Fatalf("ParseTag(%q) err = %v, want *TagError", tag, err)
			}
			return
		}
		if ix := spec.Index; ix != nil {
			if ix.Bits < MinIndexBits || ix.Bits > MaxIndexBits || len(ix.Parts) == 0 || len(ix.Parts) > MaxIndexParts {
				t.Fatalf("ParseTag(%q) = index of %d bits, %d parts", tag, ix.Bits, len(ix.Parts))
			}
			values := make([][]byte, len(ix.Parts))
			if _, err := ix.Input(nil, values); err != nil {
				t.Fatalf("ParseTag(%q).Index.Input: %v", tag, err)
			}
			if spec.BlindIndex != nil || spec.Tenant || spec.Mode != Randomized {
				t.Fatalf("ParseTag(%q) = index with other options %+v", tag, spec)
			}
		}
		if b := spec.BlindIndex; b != nil {
			if b.bits() < MinIndexBits || b.bits() > MaxIndexBits || b.Length != (b.bits()+7)/8 {
				t.Fatalf("ParseTag(%q) = blind index of %d bits in %d bytes", tag, b.bits(), b.Length)
			}
		}
	})
}
