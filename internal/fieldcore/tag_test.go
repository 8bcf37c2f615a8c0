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
		{"blindindex:e_bidx", IndexStable},
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
