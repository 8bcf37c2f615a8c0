package field_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
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
		{"", "", field.ErrNoRowKey},
		{[]byte(nil), "", field.ErrNoRowKey},
		{nilString, "", field.ErrNoRowKey},
		{[16]byte{}, "", field.ErrNoRowKey},
		{0, "", field.ErrNoRowKey},
		{nil, "", field.ErrNoRowKey},
		{1.5, "", field.ErrRowKeyType},
		{[8]byte{1}, "", field.ErrRowKeyType},
		{struct{}{}, "", field.ErrRowKeyType},
	} {
		got, err := field.RowKey(tc.in)
		if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("RowKey(%#v) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if err := field.CheckRowKeyType(reflect.TypeFor[*[16]byte]()); err != nil {
		t.Errorf("CheckRowKeyType(*[16]byte) = %v, want nil", err)
	}
	if err := field.CheckRowKeyType(reflect.TypeFor[float64]()); !errors.Is(err, field.ErrRowKeyType) {
		t.Errorf("CheckRowKeyType(float64) = %v, want ErrRowKeyType", err)
	}
}

// TestRowBoundValue: a value sealed for one row opens in that row only;
// moved to another row of the same tenant and column it fails with the
// opaque codec.ErrAuth, as does opening a bound value unbound or an
// unbound one bound. An empty row key seals nothing.
func TestRowBoundValue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		for _, mode := range []field.Mode{field.Randomized, field.Deterministic} {
			v, err := e.enc.SealRow(ctxBg, emails, mode, "row-1", message)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := e.enc.OpenRow(ctxBg, emails, "row-1", v); err != nil || !bytes.Equal(got, message) {
				t.Errorf("%v OpenRow(own row) = %q, %v; want %q", mode, got, err, message)
			}
			if got, err := e.enc.OpenRow(ctxBg, emails, "row-2", v); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("%v OpenRow(other row) = %q, %v; want codec.ErrAuth", mode, got, err)
			}
			if got, err := e.enc.Open(ctxBg, emails, v); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("%v Open(bound value, unbound) = %q, %v; want codec.ErrAuth", mode, got, err)
			}
			// Armored, as a text column stores it.
			if got, err := e.enc.OpenRow(ctxBg, emails, "row-1", codec.Armor(nil, v)); err != nil || !bytes.Equal(got, message) {
				t.Errorf("%v OpenRow(armored) = %q, %v; want %q", mode, got, err, message)
			}
			u, err := e.enc.SealMode(ctxBg, emails, mode, message)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := e.enc.OpenRow(ctxBg, emails, "row-1", u); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("%v OpenRow(unbound value) = %q, %v; want codec.ErrAuth", mode, got, err)
			}
			out, err := e.enc.SealRow(ctxBg, emails, mode, "", message)
			var rke *field.RowKeyError
			if out != nil || !errors.Is(err, field.ErrNoRowKey) || !errors.As(err, &rke) || rke.Column != "email" {
				t.Errorf("%v SealRow(empty row) = %x, %v; want nil, a *RowKeyError matching ErrNoRowKey", mode, out, err)
			}
			if _, err := e.enc.OpenRow(ctxBg, emails, "", v); !errors.Is(err, field.ErrNoRowKey) {
				t.Errorf("%v OpenRow(empty row) err = %v, want ErrNoRowKey", mode, err)
			}
		}
	})
}
