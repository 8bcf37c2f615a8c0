package fieldcore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The typed-plaintext vectors in codec/testdata/plaintexts.json pin how
// a Go value becomes the bytes colcrypt seals (docs/FORMAT.md, "Typed
// plaintexts"), for a second implementation to match: a deterministic
// column or a blind index matches across implementations only if both
// encode a value to the same bytes. The Go values live here, by vector
// name; the file holds the type, a description of the value and the
// encoding. Regenerate only for a deliberate change of encoding:
//
//	go test ./internal/fieldcore -run '^TestPlaintextVectors$' -update-plaintexts
var updatePlaintexts = flag.Bool("update-plaintexts", false, "rewrite codec/testdata/plaintexts.json from plaintextCases")

const plaintextVectorsPath = "../../codec/testdata/plaintexts.json"

type person struct {
	Name  string   `json:"name"`
	Email string   `json:"email,omitempty"`
	Tags  []string `json:"tags"`
}

type email string

// plaintextCases are the Go values of the vectors, with the description
// the file carries.
var plaintextCases = []struct {
	name, goType, value string
	v                   any
}{
	{"string", "string", "ann@example.com", "ann@example.com"},
	{"string-empty", "string", "the empty string", ""},
	{"string-utf8", "string", "Zoë 名前, taken as its UTF-8 bytes", "Zoë 名前"},
	{"named-string", "a named string type", "ann@example.com", email("ann@example.com")},
	{"bytes", "[]byte", "the bytes c0 ff 00", []byte{0xc0, 0xff, 0x00}},
	{"bytes-empty", "[]byte", "an empty, non-nil slice", []byte{}},
	{"bool-true", "bool", "true", true},
	{"bool-false", "bool", "false", false},
	{"int-zero", "int", "0", 0},
	{"int-negative", "int", "-42", -42},
	{"int8-min", "int8", "-128", int8(math.MinInt8)},
	{"int64-min", "int64", "-9223372036854775808", int64(math.MinInt64)},
	{"uint64-max", "uint64", "18446744073709551615", uint64(math.MaxUint64)},
	{"float64-tenth", "float64", "0.1", 0.1},
	{"float64-integral", "float64", "3", 3.0},
	{"float64-exponent-5", "float64", "123456", 123456.0},
	{"float64-exponent-6", "float64", "1234567", 1234567.0},
	{"float64-large", "float64", "1e21", 1e21},
	{"float64-exponent-minus-4", "float64", "0.0001", 1e-4},
	{"float64-exponent-minus-5", "float64", "0.00001", 1e-5},
	{"float64-negative-zero", "float64", "-0", math.Copysign(0, -1)},
	{"float64-inf", "float64", "+Inf", math.Inf(1)},
	{"float64-nan", "float64", "NaN", math.NaN()},
	{"float32-tenth", "float32", "0.1 as a float32", float32(0.1)},
	{"float32-third", "float32", "1/3 as a float32", float32(1) / 3},
	{"time-utc", "time.Time", "2026-12-06 07:55:00.123456789 UTC", time.Date(2026, 12, 6, 7, 55, 0, 123456789, time.UTC)},
	{"time-whole-second", "time.Time", "2026-12-06 07:55:00 UTC", time.Date(2026, 12, 6, 7, 55, 0, 0, time.UTC)},
	{"time-trailing-zeros", "time.Time", "2026-12-06 07:55:00.120 UTC", time.Date(2026, 12, 6, 7, 55, 0, 120000000, time.UTC)},
	{"time-offset", "time.Time", "2026-12-06 13:25:00 at +05:30 (the same instant as time-whole-second)", time.Date(2026, 12, 6, 13, 25, 0, 0, time.FixedZone("IST", 5*3600+1800))},
	{"json-struct", "a struct", `{Name: "Ann <a&b>", Tags: ["x", "y"]}, Email empty and omitted`, person{Name: "Ann <a&b>", Tags: []string{"x", "y"}}},
	{"json-map", "map[string]int", `{"b": 1, "a": 2}`, map[string]int{"b": 1, "a": 2}},
	{"json-slice-nil", "[]string", "a nil slice", []string(nil)},
	{"json-byte-array", "[4]byte", "the array [1 2 3 4]", [4]byte{1, 2, 3, 4}},
	{"json-raw-message", "json.RawMessage", `{ "a" : [1, 2] } (a json.Marshaler)`, json.RawMessage(`{ "a" : [1, 2] }`)},
}

type plaintextVector struct {
	Name    string `json:"name"`
	GoType  string `json:"go_type"`
	Value   string `json:"value"`
	Text    string `json:"encoded_text,omitempty"`
	Encoded string `json:"encoded"`
}

// TestPlaintextVectors checks EncodePlaintext against every vector of
// codec/testdata/plaintexts.json and DecodePlaintext back to the value,
// and that the file and plaintextCases name the same vectors.
func TestPlaintextVectors(t *testing.T) {
	if *updatePlaintexts {
		writePlaintextVectors(t)
	}
	raw, err := os.ReadFile(filepath.FromSlash(plaintextVectorsPath))
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Vectors []plaintextVector }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	want := map[string]plaintextVector{}
	for _, v := range file.Vectors {
		want[v.Name] = v
	}
	if len(want) != len(plaintextCases) {
		t.Errorf("plaintexts.json has %d vectors, plaintextCases %d", len(want), len(plaintextCases))
	}
	for _, tc := range plaintextCases {
		v, ok := want[tc.name]
		if !ok {
			t.Errorf("%s: not in plaintexts.json", tc.name)
			continue
		}
		got, ok, err := EncodePlaintext(tc.v)
		if err != nil || !ok {
			t.Fatalf("EncodePlaintext(%s) = %q, %v, %v", tc.name, got, ok, err)
		}
		if hex.EncodeToString(got) != v.Encoded {
			t.Errorf("EncodePlaintext(%s) = %x, want %s", tc.name, got, v.Encoded)
		}
		back := reflect.New(reflect.TypeOf(tc.v))
		if err := DecodePlaintext(got, back.Interface()); err != nil {
			t.Fatalf("DecodePlaintext(%s) err = %v", tc.name, err)
		}
		if !plaintextEqual(back.Elem().Interface(), tc.v) {
			t.Errorf("DecodePlaintext(%s) = %#v, want %#v", tc.name, back.Elem().Interface(), tc.v)
		}
	}
}

// plaintextEqual is DeepEqual but for NaN, -0 and times, which compare by
// bits and instant and zone offset.
func plaintextEqual(a, b any) bool {
	switch b := b.(type) {
	case float64:
		return math.Float64bits(a.(float64)) == math.Float64bits(b)
	case time.Time:
		_, ao := a.(time.Time).Zone()
		_, bo := b.Zone()
		return a.(time.Time).Equal(b) && ao == bo
	case json.RawMessage:
		var ca bytes.Buffer
		json.Compact(&ca, b)
		return bytes.Equal(a.(json.RawMessage), ca.Bytes())
	}
	return reflect.DeepEqual(a, b)
}

func writePlaintextVectors(t *testing.T) {
	t.Helper()
	var vs []plaintextVector
	for _, tc := range plaintextCases {
		b, _, err := EncodePlaintext(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		v := plaintextVector{Name: tc.name, GoType: tc.goType, Value: tc.value, Encoded: hex.EncodeToString(b)}
		if json.Valid([]byte(`"`+string(b)+`"`)) || !bytes.ContainsAny(b, "\x00\xc0\xff") {
			v.Text = string(b)
		}
		vs = append(vs, v)
	}
	out, err := json.MarshalIndent(map[string]any{
		"comment": []string{
			"colcrypt typed-plaintext vectors: the bytes a Go value is sealed as; see docs/FORMAT.md, section Typed plaintexts.",
			"encoded is hex; encoded_text is the same bytes as a string where they are text.",
			"Generated by: go test ./internal/fieldcore -run '^TestPlaintextVectors$' -update-plaintexts",
		},
		"vectors": vs,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.FromSlash(plaintextVectorsPath), append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
