package fieldcore

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type address struct {
	Street string `json:"street"`
	Zip    int    `json:"zip"`
}

func TestPlaintextRoundTrip(t *testing.T) {
	s := "héllo"
	when := time.Date(2026, 11, 28, 17, 1, 2, 345678901, time.FixedZone("X", 3600))
	tests := []struct {
		in       any
		wantText string // "" to skip the check
	}{
		{"", ""},
		{"ann@example.com", "ann@example.com"},
		{[]byte{0, 1, 0xff}, "\x00\x01\xff"},
		{[]byte{}, ""},
		{int64(-42), "-42"},
		{int8(math.MinInt8), "-128"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{3.25, "3.25"},
		{float32(0.1), "0.1"},
		{true, "true"},
		{when, "2026-11-28T17:01:02.345678901+01:00"},
		{&s, "héllo"},
		{address{"Main St", 12345}, `{"street":"Main St","zip":12345}`},
		{map[string]int{"a": 1}, `{"a":1}`},
		{[]string{"x", "y"}, `["x","y"]`},
	}
	for _, tt := range tests {
		b, ok, err := EncodePlaintext(tt.in)
		if err != nil || !ok {
			t.Errorf("EncodePlaintext(%#v) = %q, %v, %v; want ok", tt.in, b, ok, err)
			continue
		}
		if tt.wantText != "" && string(b) != tt.wantText {
			t.Errorf("EncodePlaintext(%#v) = %q, want %q", tt.in, b, tt.wantText)
		}
		dst := reflect.New(reflect.TypeOf(tt.in))
		if err := DecodePlaintext(b, dst.Interface()); err != nil {
			t.Errorf("DecodePlaintext(%q, %T) err = %v", b, dst.Interface(), err)
			continue
		}
		got := dst.Elem().Interface()
		if wt, isTime := tt.in.(time.Time); isTime {
			if !got.(time.Time).Equal(wt) {
				t.Errorf("time round trip = %v, want %v", got, wt)
			}
			continue
		}
		if !reflect.DeepEqual(got, tt.in) {
			t.Errorf("round trip of %#v = %#v", tt.in, got)
		}
	}
}

func TestPlaintextNull(t *testing.T) {
	var nilString *string
	var nilBytes []byte
	for _, v := range []any{nil, nilString, nilBytes} {
		b, ok, err := EncodePlaintext(v)
		if ok || b != nil || err != nil {
			t.Errorf("EncodePlaintext(%#v) = %q, %v, %v; want NULL", v, b, ok, err)
		}
	}
}

func TestPlaintextDecodeAllocatesPointers(t *testing.T) {
	var p **int
	if err := DecodePlaintext([]byte("7"), &p); err != nil || p == nil || *p == nil || **p != 7 {
		t.Fatalf("DecodePlaintext into **int = %v", err)
	}
}

func TestPlaintextErrors(t *testing.T) {
	var i8 int8
	err := DecodePlaintext([]byte("300"), &i8)
	if !errors.Is(err, ErrDecode) || strings.Contains(err.Error(), "300") {
		t.Errorf("DecodePlaintext(300 into int8) = %v, want ErrDecode without the plaintext", err)
	}
	var when time.Time
	if err := DecodePlaintext([]byte("secret-date"), &when); !errors.Is(err, ErrDecode) || strings.Contains(err.Error(), "secret") {
		t.Errorf("DecodePlaintext(bad time) = %v, want ErrDecode without the plaintext", err)
	}
	var addr address
	if err := DecodePlaintext([]byte(`{"zip":"secret-zip"}`), &addr); !errors.Is(err, ErrDecode) || strings.Contains(err.Error(), "secret") {
		t.Errorf("DecodePlaintext(bad JSON) = %v, want ErrDecode without the plaintext", err)
	}
	var b bool
	if err := DecodePlaintext([]byte("maybe"), &b); err == nil {
		t.Error("DecodePlaintext(maybe into bool) = nil, want an error")
	}
	if err := DecodePlaintext([]byte("1"), i8); err == nil {
		t.Error("DecodePlaintext(non-pointer) = nil, want an error")
	}
	_, _, err = EncodePlaintext(make(chan int))
	var ute *UnsupportedTypeError
	if !errors.As(err, &ute) {
		t.Errorf("EncodePlaintext(chan) err = %v, want *UnsupportedTypeError", err)
	}
}

func TestCheckEncryptable(t *testing.T) {
	ok := []any{"", []byte{}, 0, int64(0), uint(0), 0.0, false, time.Time{}, address{}, map[string]any{}, new(string)}
	for _, v := range ok {
		if err := CheckEncryptable("F", reflect.TypeOf(v)); err != nil {
			t.Errorf("CheckEncryptable(%T) = %v, want nil", v, err)
		}
	}
	bad := []reflect.Type{
		reflect.TypeFor[chan int](), reflect.TypeFor[func()](), reflect.TypeFor[complex128](),
		reflect.TypeFor[any](), reflect.TypeFor[*func()](),
	}
	for _, typ := range bad {
		err := CheckEncryptable("Secret", typ)
		var ute *UnsupportedTypeError
		if !errors.As(err, &ute) || ute.Field != "Secret" {
			t.Errorf("CheckEncryptable(%v) = %v, want *UnsupportedTypeError naming Secret", typ, err)
		}
	}
}
