package field_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

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
			u, err := core(e.enc).Seal(ctxBg, emails, mode, message)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := e.enc.OpenRow(ctxBg, emails, "row-1", u); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("%v OpenRow(unbound value) = %q, %v; want codec.ErrAuth", mode, got, err)
			}
			out, err := e.enc.SealRow(ctxBg, emails, mode, "", message)
			var rke *fieldcore.RowKeyError
			if out != nil || !errors.Is(err, field.ErrNoRowKey) || !errors.As(err, &rke) || rke.Column != "email" {
				t.Errorf("%v SealRow(empty row) = %x, %v; want nil, a *RowKeyError matching ErrNoRowKey", mode, out, err)
			}
			if _, err := e.enc.OpenRow(ctxBg, emails, "", v); !errors.Is(err, field.ErrNoRowKey) {
				t.Errorf("%v OpenRow(empty row) err = %v, want ErrNoRowKey", mode, err)
			}
		}
	})
}
