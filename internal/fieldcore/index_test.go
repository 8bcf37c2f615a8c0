package fieldcore_test

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/colcrypt/colcrypt/field/fieldtest"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/internal/normalize"
)

var updateIndexVectors = flag.Bool("update-index-vectors", false, "rewrite codec/testdata/indexes.json from the test-only implementation")

const indexVectorsPath = "../../codec/testdata/indexes.json"

// The index computation of docs/FORMAT.md, written from that page with
// the standard library only (the transforms are the normalizers, pinned
// by normalizers.json): the vectors are generated from it, never from
// the implementation.

func specLP(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// specIndexInfo is the HKDF info of a named index's subkey: the index key
// label, then table, an empty column (a named index belongs to no one
// encrypted column) and the index name, each length-prefixed.
func specIndexInfo(table, name string) []byte {
	return specLP(specLP(specLP([]byte("colcrypt/v1/index"), table), ""), name)
}

func specIndexInput(t testing.TB, name string, parts []indexVectorPart) []byte {
	in := specLP(specLP(nil, "colcrypt/index/v1"), name)
	for _, p := range parts {
		v := string(p.value(t))
		for _, tr := range p.Transforms {
			f, err := normalize.Lookup(tr)
			if err != nil {
				t.Fatal(err)
			}
			v = f(v)
		}
		in = specLP(in, v)
	}
	return in
}

func specIndex(t testing.TB, indexKey []byte, table, name string, bits int, input []byte) (subkey, index []byte) {
	subkey, err := hkdf.Key(sha256.New, indexKey, nil, string(specIndexInfo(table, name)), 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, subkey)
	m.Write(input)
	sum := m.Sum(nil)
	out := sum[:(bits+7)/8]
	if r := bits % 8; r != 0 {
		out[len(out)-1] &= 0xFF << (8 - r)
	}
	return subkey, out
}

type indexVectorPart struct {
	Source     string   `json:"source"`
	Transforms []string `json:"transforms"`
	Value      string   `json:"value"` // hex: the part's plaintext encoding
}

func (p indexVectorPart) value(t testing.TB) []byte {
	b, err := hex.DecodeString(p.Value)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type indexVector struct {
	Name     string            `json:"name"`
	IndexKey string            `json:"index_key"`
	Tenant   string            `json:"tenant"`
	Table    string            `json:"table"`
	Index    string            `json:"index"`
	Bits     int               `json:"bits"`
	Parts    []indexVectorPart `json:"parts"`
	HKDFInfo string            `json:"hkdf_info"`
	Subkey   string            `json:"subkey"`
	Input    string            `json:"input"`
	Value    string            `json:"value"`
}

func indexVectorCases() []indexVector {
	h := func(s string) string { return hex.EncodeToString([]byte(s)) }
	return []indexVector{
		{Name: "ssn-full", Index: "ssn_full", Bits: 128, Parts: []indexVectorPart{{"SSN", []string{"digits"}, h("123-45-6789")}}},
		{Name: "ssn-last4-16-bits", Index: "ssn_last4", Bits: 16, Parts: []indexVectorPart{{"SSN", []string{"digits", "last4"}, h("123-45-6789")}}},
		{Name: "last4-zip-32-bits", Index: "ssn_zip", Bits: 32, Parts: []indexVectorPart{
			{"SSN", []string{"digits", "last4"}, h("123-45-6789")}, {"Zip", []string{"trim"}, h(" 94110 ")}}},
		{Name: "last4-zip-20-bits", Index: "ssn_zip", Bits: 20, Parts: []indexVectorPart{
			{"SSN", []string{"digits", "last4"}, h("123-45-6789")}, {"Zip", []string{"trim"}, h("94110")}}},
		{Name: "initial-last-name-24-bits", Index: "name_idx", Bits: 24, Parts: []indexVectorPart{
			{"First", []string{"lower", "initial"}, h("  Émile")}, {"Last", []string{"trim", "lower"}, h("Zola ")}}},
		{Name: "prefix3-256-bits", Index: "city_prefix", Bits: 256, Parts: []indexVectorPart{{"City", []string{"nfkc", "lower", "first3"}, h("Ｓａｎ Francisco")}}},
		{Name: "empty-parts", Index: "pair", Bits: 17, Parts: []indexVectorPart{{"A", nil, ""}, {"B", nil, ""}}},
		{Name: "split-ab-c", Index: "pair", Bits: 64, Parts: []indexVectorPart{{"A", nil, h("ab")}, {"B", nil, h("c")}}},
		{Name: "split-a-bc", Index: "pair", Bits: 64, Parts: []indexVectorPart{{"A", nil, h("a")}, {"B", nil, h("bc")}}},
		{Name: "integer-part", Index: "age_zip", Bits: 40, Tenant: "globex", Parts: []indexVectorPart{{"Age", nil, h("42")}, {"Zip", nil, h("10001")}}},
	}
}

func loadIndexVectors(t *testing.T) []indexVector {
	t.Helper()
	if *updateIndexVectors {
		vs := indexVectorCases()
		for i := range vs {
			v := &vs[i]
			v.IndexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
			if v.Tenant == "" {
				v.Tenant = "acme"
			}
			v.Table = "patients"
			ik, _ := hex.DecodeString(v.IndexKey)
			in := specIndexInput(t, v.Index, v.Parts)
			sub, idx := specIndex(t, ik, v.Table, v.Index, v.Bits, in)
			v.HKDFInfo = hex.EncodeToString(specIndexInfo(v.Table, v.Index))
			v.Subkey = hex.EncodeToString(sub)
			v.Input = hex.EncodeToString(in)
			v.Value = hex.EncodeToString(idx)
		}
		file := map[string]any{
			"comment": []string{
				"colcrypt named and compound index vectors; see docs/FORMAT.md, section Named and compound indexes.",
				"Each part's value is the hex of its plaintext encoding; its transforms apply in order (normalizers.json).",
				"subkey = HKDF-SHA256(index_key, salt empty, info = hkdf_info, 32); value = HMAC-SHA256(subkey, input) cut to bits.",
				"index_key is the tenant's index key (its key family of the key table, see docs/FORMAT.md), not a data key.",
				"Regenerate: go test ./internal/fieldcore -run '^TestIndexVectors$' -update-index-vectors",
			},
			"vectors": vs,
		}
		out, err := json.MarshalIndent(file, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(indexVectorsPath, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.FromSlash(indexVectorsPath))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []indexVector }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors in indexes.json")
	}
	return file.Vectors
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIndexVectors computes every vector of indexes.json twice, with the
// test-only implementation of FORMAT.md and through the Engine (its
// active key and its lookup candidates), and compares both with the file.
func TestIndexVectors(t *testing.T) {
	ctx := context.Background()
	for _, v := range loadIndexVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			ik := mustHex(t, v.IndexKey)
			in := specIndexInput(t, v.Index, v.Parts)
			if got := hex.EncodeToString(in); got != v.Input {
				t.Fatalf("spec input = %s, want %s", got, v.Input)
			}
			if got := hex.EncodeToString(specIndexInfo(v.Table, v.Index)); got != v.HKDFInfo {
				t.Fatalf("spec hkdf_info = %s, want %s", got, v.HKDFInfo)
			}
			sub, want := specIndex(t, ik, v.Table, v.Index, v.Bits, in)
			if hex.EncodeToString(sub) != v.Subkey || hex.EncodeToString(want) != v.Value {
				t.Fatalf("spec subkey, value = %x, %x, want %s, %s", sub, want, v.Subkey, v.Value)
			}

			parts := make([]fieldcore.IndexPart, len(v.Parts))
			values := make([][]byte, len(v.Parts))
			for i, p := range v.Parts {
				parts[i] = fieldcore.IndexPart{Source: p.Source, Transforms: p.Transforms}
				values[i] = p.value(t)
			}
			ix, err := fieldcore.NewIndex(v.Index, v.Bits, parts...)
			if err != nil {
				t.Fatalf("NewIndex: %v", err)
			}
			if got, err := ix.Input(nil, values); err != nil || !bytes.Equal(got, in) {
				t.Fatalf("Input = %x, %v, want %s", got, err, v.Input)
			}
			// A data key too, which a named index must not use.
			keys, err := fieldtest.NewKeys(
				fieldtest.Key{Tenant: v.Tenant, Version: 1, DEK: bytes.Repeat([]byte{7}, 32)},
				fieldtest.Key{Tenant: v.Tenant, Version: 1, DEK: ik, IndexKey: true})
			if err != nil {
				t.Fatal(err)
			}
			e := fieldcore.New(keys, fieldcore.Config{})
			got, err := e.Index(ctx, v.Tenant, v.Table, ix, values)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Engine.Index = %x, %v, want %x", got, err, want)
			}
			cands, err := e.IndexCandidates(ctx, v.Tenant, v.Table, ix, values)
			if err != nil || len(cands) != 1 || !bytes.Equal(cands[0], want) {
				t.Fatalf("Engine.IndexCandidates = %x, %v, want [%x]", cands, err, want)
			}
			h, err := e.Handle(ctx, ix.Scope(v.Tenant, v.Table))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Index(ctx, ix, values); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Handle.Index = %x, %v, want %x", got, err, want)
			}
		})
	}
}

// TestBlindIndexVectorsUnchanged: a field's single blind index, the
// blindindex:<column> tag, still gives the bytes of vectors.json, through
// the Engine and the Handle, by bidxlen and by the same length in bits.
func TestBlindIndexVectorsUnchanged(t *testing.T) {
	raw, err := os.ReadFile(filepath.FromSlash("../../codec/testdata/vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name, DEK, Tenant, Table, Column, Plaintext string
			Version                                     uint32
			BlindIndex                                  []struct {
				Length int
				Index  string
			} `json:"blind_index"`
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checked := 0
	for _, v := range file.Vectors {
		if v.Tenant == "" {
			continue // an Engine always resolves a tenant
		}
		keys, err := fieldtest.NewKeys(fieldtest.Key{Tenant: v.Tenant, Version: v.Version, DEK: mustHex(t, v.DEK)})
		if err != nil {
			t.Fatal(err)
		}
		e := fieldcore.New(keys, fieldcore.Config{})
		s := fieldcore.Scope{Tenant: v.Tenant, Table: v.Table, Column: v.Column}
		for _, bi := range v.BlindIndex {
			byLen, err := fieldcore.ParseTag("F", "blindindex:b,indexkey:legacy,bidxlen:"+strconv.Itoa(bi.Length))
			if err != nil {
				t.Fatal(err)
			}
			byBits, err := fieldcore.ParseTag("F", "blindindex:b,indexkey:legacy,bits:"+strconv.Itoa(bi.Length*8))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []*fieldcore.BlindIndex{byLen.BlindIndex, byBits.BlindIndex} {
				got, err := e.IndexValue(ctx, s, b, mustHex(t, v.Plaintext))
				if err != nil || hex.EncodeToString(got) != bi.Index {
					t.Errorf("%s: BlindIndex(len %d) = %x, %v, want %s", v.Name, bi.Length, got, err, bi.Index)
				}
				h, err := e.Handle(ctx, s)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := h.BlindIndex(ctx, b, mustHex(t, v.Plaintext)); err != nil || hex.EncodeToString(got) != bi.Index {
					t.Errorf("%s: Handle.BlindIndex(len %d) = %x, %v, want %s", v.Name, bi.Length, got, err, bi.Index)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no blind_index vectors checked")
	}
}

// TestIndexBits: every length from MinIndexBits to MaxIndexBits gives
// ceil(bits/8) bytes, the low bits of the last byte zero, and the rest
// the full HMAC's leading bits.
func TestIndexBits(t *testing.T) {
	ctx := context.Background()
	dek := bytes.Repeat([]byte{7}, 32)
	keys, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: dek, IndexKey: true})
	if err != nil {
		t.Fatal(err)
	}
	e := fieldcore.New(keys, fieldcore.Config{})
	values := [][]byte{[]byte("6789"), []byte("94110")}
	full := func(bits int) []byte {
		ix, err := fieldcore.NewIndex("ssn_zip", bits, fieldcore.IndexPart{Source: "SSN"}, fieldcore.IndexPart{Source: "Zip"})
		if err != nil {
			t.Fatalf("NewIndex(%d bits): %v", bits, err)
		}
		v, err := e.Index(ctx, "acme", "patients", ix, values)
		if err != nil {
			t.Fatalf("Index(%d bits): %v", bits, err)
		}
		return v
	}
	whole := full(256)
	zeroLow := 0
	for bits := fieldcore.MinIndexBits; bits <= fieldcore.MaxIndexBits; bits++ {
		got := full(bits)
		n := (bits + 7) / 8
		if len(got) != n {
			t.Fatalf("%d bits: %d bytes, want %d", bits, len(got), n)
		}
		want := append([]byte(nil), whole[:n]...)
		if r := bits % 8; r != 0 {
			mask := byte(0xFF << (8 - r))
			want[n-1] &= mask
			if got[n-1]&^mask != 0 {
				t.Fatalf("%d bits: last byte %08b has low bits set", bits, got[n-1])
			}
			if whole[n-1]&^mask != 0 {
				zeroLow++ // the mask did clear something
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bits = %x, want %x", bits, got, want)
		}
	}
	if zeroLow == 0 {
		t.Fatal("no length cleared a set bit: the test checks nothing")
	}
}

// TestIndexTuplesDoNotCollide: moving bytes between parts, or adding an
// empty part, changes the input.
func TestIndexTuplesDoNotCollide(t *testing.T) {
	two, _ := fieldcore.NewIndex("i", 0, fieldcore.IndexPart{Source: "A"}, fieldcore.IndexPart{Source: "B"})
	three, _ := fieldcore.NewIndex("i", 0, fieldcore.IndexPart{Source: "A"}, fieldcore.IndexPart{Source: "B"}, fieldcore.IndexPart{Source: "C"})
	one, _ := fieldcore.NewIndex("i", 0, fieldcore.IndexPart{Source: "A"})
	seen := map[string]string{}
	add := func(desc string, ix *fieldcore.Index, vs ...string) {
		values := make([][]byte, len(vs))
		for i, v := range vs {
			values[i] = []byte(v)
		}
		in, err := ix.Input(nil, values)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		if prev, ok := seen[string(in)]; ok {
			t.Fatalf("%s and %s have the same input %x", prev, desc, in)
		}
		seen[string(in)] = desc
	}
	add(`("ab","c")`, two, "ab", "c")
	add(`("a","bc")`, two, "a", "bc")
	add(`("abc","")`, two, "abc", "")
	add(`("","abc")`, two, "", "abc")
	add(`("abc")`, one, "abc")
	add(`("a","b","c")`, three, "a", "b", "c")
	add(`("ab","c","")`, three, "ab", "c", "")
	add(`("\x01a","")`, two, "\x01a", "")
	add(`("","\x01a")`, two, "", "\x01a")
	if _, err := two.Input(nil, [][]byte{[]byte("a")}); !errors.Is(err, fieldcore.ErrIndexParts) {
		t.Fatalf("Input with 1 value for 2 parts err = %v, want ErrIndexParts", err)
	}
	var zero fieldcore.Index
	if _, err := zero.Input(nil, nil); err == nil {
		t.Fatal("Input of a zero Index succeeded")
	}
}

func TestNewIndexErrors(t *testing.T) {
	p := fieldcore.IndexPart{Source: "SSN"}
	tests := []struct {
		desc  string
		name  string
		bits  int
		parts []fieldcore.IndexPart
	}{
		{"empty name", "", 0, []fieldcore.IndexPart{p}},
		{"name with a dash", "ssn-zip", 0, []fieldcore.IndexPart{p}},
		{"name starting with a digit", "4ssn", 0, []fieldcore.IndexPart{p}},
		{"long name", string(bytes.Repeat([]byte("a"), 64)), 0, []fieldcore.IndexPart{p}},
		{"15 bits", "i", 15, []fieldcore.IndexPart{p}},
		{"257 bits", "i", 257, []fieldcore.IndexPart{p}},
		{"negative bits", "i", -8, []fieldcore.IndexPart{p}},
		{"no parts", "i", 0, nil},
		{"9 parts", "i", 0, []fieldcore.IndexPart{p, p, p, p, p, p, p, p, p}},
		{"bad source", "i", 0, []fieldcore.IndexPart{{Source: "a.b"}}},
		{"unknown transform", "i", 0, []fieldcore.IndexPart{{Source: "SSN", Transforms: []string{"last0"}}}},
	}
	for _, tt := range tests {
		ix, err := fieldcore.NewIndex(tt.name, tt.bits, tt.parts...)
		var ce *fieldcore.IndexConfigError
		if ix != nil || !errors.As(err, &ce) {
			t.Errorf("%s: NewIndex = %v, %v, want *IndexConfigError", tt.desc, ix, err)
		}
	}
}
