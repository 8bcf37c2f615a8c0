package fieldcore

import (
	"errors"
	"reflect"
	"testing"
)

type extID string

// TestRowKey: the row key of every supported type, and the errors for a
// zero key and an unsupported type.
func TestRowKey(t *testing.T) {
	u := [16]byte{0x3f, 0x2c, 0x1a, 0x9e, 0x8b, 0x7d, 0x4c, 0x6e, 0x9f, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd}
	s := "k-1"
	var nilString *string
	for _, tc := range []struct {
		in      any
		want    string
		wantErr error
	}{
		{"k-1", "k-1", nil},
		{extID("k-1"), "k-1", nil},
		{&s, "k-1", nil},
		{[]byte{0, 1, 0xff}, "\x00\x01\xff", nil},
		{u, "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", nil},
		{&u, "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", nil},
		{int64(-12), "-12", nil},
		{uint(42), "42", nil},
		{int32(7), "7", nil},
		{"", "", ErrNoRowKey},
		{[]byte(nil), "", ErrNoRowKey},
		{nilString, "", ErrNoRowKey},
		{[16]byte{}, "", ErrNoRowKey},
		{0, "", ErrNoRowKey},
		{nil, "", ErrNoRowKey},
		{1.5, "", ErrRowKeyType},
		{[8]byte{1}, "", ErrRowKeyType},
		{struct{}{}, "", ErrRowKeyType},
	} {
		got, err := RowKey(tc.in)
		if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("RowKey(%#v) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if err := CheckRowKeyType(reflect.TypeFor[*[16]byte]()); err != nil {
		t.Errorf("CheckRowKeyType(*[16]byte) = %v, want nil", err)
	}
	if err := CheckRowKeyType(reflect.TypeFor[float64]()); !errors.Is(err, ErrRowKeyType) {
		t.Errorf("CheckRowKeyType(float64) = %v, want ErrRowKeyType", err)
	}
}
