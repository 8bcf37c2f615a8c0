package handscoped

import (
	"context"
	"errors"
	"testing"

	"github.com/colcrypt/colcrypt/field"
)

// TestBindsScope keeps the baseline honest: it must refuse a value moved
// to another column, table or tenant, or read under another context
// tenant, as colcrypt does, or it would do less work than it claims.
func TestBindsScope(t *testing.T) {
	ctx := context.Background()
	b := New([]byte{0xC0, 1, 1}, field.TenantFromContext)
	a := Scope{"acme", "t", "a"}
	v, err := b.Seal(ctx, a, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := b.Open(ctx, a, v); err != nil || string(pt) != "secret" {
		t.Fatalf("Open = %q, %v, want secret", pt, err)
	}
	if want := 3 + 12 + len("secret") + 16; len(v) != want {
		t.Fatalf("len(value) = %d, want colcrypt's %d", len(v), want)
	}
	for _, s := range []Scope{{"acme", "t", "b"}, {"acme", "u", "a"}, {"other", "t", "a"}} {
		b.Rekey(s, a) // the same AES key: only the associated data refuses
		if _, err := b.Open(ctx, s, v); !errors.Is(err, ErrValue) {
			t.Errorf("Open(%v) of a value of %v err = %v, want ErrValue", s, a, err)
		}
	}
	if _, err := b.Open(field.WithTenant(ctx, "other"), a, v); !errors.Is(err, ErrTenant) {
		t.Errorf("Open under another context tenant err = %v, want ErrTenant", err)
	}
	v[len(v)-1] ^= 1
	if _, err := b.Open(ctx, a, v); !errors.Is(err, ErrValue) {
		t.Errorf("Open of a tampered value err = %v, want ErrValue", err)
	}
}
