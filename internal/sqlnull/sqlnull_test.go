package sqlnull

import (
	"bytes"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// NullString has the shape of sql.NullString outside database/sql: it is
// JSON, like any other struct.
type NullString struct {
	String string
	Valid  bool
}

func TestIs(t *testing.T) {
	for _, c := range []struct {
		v    any
		want bool
	}{
		{sql.NullString{}, true},
		{&sql.NullString{}, true},
		{sql.Null[[]byte]{}, true},
		{sql.NullTime{}, true},
		{NullString{}, false},
		{sql.RawBytes{}, false},
		{"", false},
		{(*string)(nil), false},
	} {
		if got := Is(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("Is(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}

// TestEncodeLikeBare: every Null type's valid value encodes to the bytes
// of its bare inner value, and Decode reads them back valid.
func TestEncodeLikeBare(t *testing.T) {
	when := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("x", 3600))
	for _, c := range []struct {
		null, bare any
	}{
		{sql.NullString{String: "a,b", Valid: true}, "a,b"},
		{sql.NullInt64{Int64: -9, Valid: true}, int64(-9)},
		{sql.NullInt32{Int32: 7, Valid: true}, int32(7)},
		{sql.NullInt16{Int16: -3, Valid: true}, int16(-3)},
		{sql.NullByte{Byte: 200, Valid: true}, byte(200)},
		{sql.NullFloat64{Float64: 0.1, Valid: true}, 0.1},
		{sql.NullBool{Bool: true, Valid: true}, true},
		{sql.NullTime{Time: when, Valid: true}, when},
		{sql.Null[string]{V: "s", Valid: true}, "s"},
		{sql.Null[int]{V: 5, Valid: true}, 5},
		{sql.Null[[]byte]{V: []byte{0, 1}, Valid: true}, []byte{0, 1}},
		{sql.Null[map[string]int]{V: map[string]int{"a": 1}, Valid: true}, map[string]int{"a": 1}},
		{&sql.NullString{String: "p", Valid: true}, "p"},
	} {
		pt, ok, handled, err := Encode(c.null)
		want, _, werr := fieldcore.EncodePlaintext(c.bare)
		if !handled || !ok || err != nil || werr != nil || !bytes.Equal(pt, want) {
			t.Errorf("Encode(%#v) = %q, %v, %v, %v; want %q (the bare %T's)", c.null, pt, ok, handled, err, want, c.bare)
			continue
		}
		dst := reflect.New(reflect.TypeOf(c.null))
		if handled, err := Decode(pt, dst.Elem()); !handled || err != nil {
			t.Errorf("Decode(%q) into %T = %v, %v", pt, c.null, handled, err)
			continue
		}
		got := dst.Elem().Interface()
		if nt, ok := got.(sql.NullTime); ok {
			if !nt.Valid || !nt.Time.Equal(when) {
				t.Errorf("Decode(%q) = %+v, want %v", pt, nt, when)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.null) {
			t.Errorf("Decode(%q) = %#v, want %#v", pt, got, c.null)
		}
	}
}

func TestEncodeNull(t *testing.T) {
	for _, v := range []any{
		sql.NullString{String: "ignored"}, sql.NullInt64{}, sql.NullTime{}, sql.Null[string]{},
		sql.NullBool{}, sql.Null[int]{V: 3}, (*sql.NullString)(nil), sql.Null[[]byte]{Valid: true},
	} {
		if pt, ok, handled, err := Encode(v); !handled || ok || pt != nil || err != nil {
			t.Errorf("Encode(%#v) = %q, %v, %v, %v; want NULL", v, pt, ok, handled, err)
		}
	}
	for _, v := range []any{nil, "x", NullString{}, 3} {
		if _, _, handled, _ := Encode(v); handled {
			t.Errorf("Encode(%#v) handled, want it left to the caller", v)
		}
	}
}

func TestDecodeLeavesOthersAndFailures(t *testing.T) {
	var s string
	if handled, _ := Decode([]byte("x"), reflect.ValueOf(&s).Elem()); handled || s != "" {
		t.Errorf("Decode into string: handled %v, s %q; want it left alone", handled, s)
	}
	n := sql.NullInt64{Int64: 1, Valid: true}
	handled, err := Decode([]byte("secret"), reflect.ValueOf(&n).Elem())
	if !handled || err == nil || bytes.Contains([]byte(err.Error()), []byte("secret")) {
		t.Errorf("Decode(non-number) = %v, %v; want an error without the plaintext", handled, err)
	}
	if n != (sql.NullInt64{Int64: 1, Valid: true}) {
		t.Errorf("after a failed Decode n = %+v, want it unchanged", n)
	}
}
