package field_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/keystore"
)

// TestHandleRoundTrip checks that a Handle's values are the Encryptor's:
// what one seals (randomized through the bulk nonces, deterministic,
// bound to a row) the other opens, the handle knows the key version it
// seals under, and its blind index is the Encryptor's.
func TestHandleRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := field.WithTenant(context.Background(), "acme")
		s := field.Scope{Table: "patients", Column: "email"}
		h, err := core(e.enc).Handle(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Scope().Tenant; got != "acme" {
			t.Errorf("Scope().Tenant = %q, want the context's acme", got)
		}
		seen := map[string]bool{}
		for i := range 300 { // past one bulk read of nonces
			pt := []byte(fmt.Sprintf("user%d@example.com", i))
			v, err := h.Seal(ctx, field.Randomized, nil, pt)
			if err != nil {
				t.Fatal(err)
			}
			if seen[string(v[3:15])] {
				t.Fatalf("value %d repeats a nonce", i)
			}
			seen[string(v[3:15])] = true
			if got, err := e.enc.Open(ctx, s, v); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Encryptor.Open of the handle's value %d = %q, %v", i, got, err)
			}
		}
		det, err := h.Seal(ctx, field.Deterministic, []byte("kept:"), []byte("same"))
		if err != nil || !bytes.HasPrefix(det, []byte("kept:")) {
			t.Fatalf("Seal(Deterministic) into dst = %q, %v", det, err)
		}
		want, _ := e.enc.SealDeterministic(ctx, s, []byte("same"))
		if !bytes.Equal(det[5:], want) {
			t.Error("handle's deterministic value differs from the Encryptor's")
		}
		bound, err := e.enc.SealRow(ctx, s, field.Randomized, "row-1", []byte("bound"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := h.OpenRow(ctx, "row-1", nil, bound); err != nil || string(got) != "bound" {
			t.Errorf("OpenRow = %q, %v", got, err)
		}
		if _, err := h.OpenRow(ctx, "row-2", nil, bound); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("OpenRow with another row: err = %v, want codec.ErrAuth", err)
		}
		mine, err := h.SealRow(ctx, field.Deterministic, "row-1", nil, []byte("bound"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.enc.OpenRow(ctx, s, "row-1", mine); err != nil || string(got) != "bound" {
			t.Errorf("Encryptor.OpenRow of the handle's bound value = %q, %v", got, err)
		}
		if ver, err := h.KeyVersion(ctx); err != nil || ver != 1 {
			t.Errorf("KeyVersion = %d, %v; want 1", ver, err)
		}
		bi, err := field.NewBlindIndex("email_bidx", 16, "lower")
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.BlindIndex(ctx, bi, []byte("A@x"))
		want, _ = e.enc.BlindIndex(ctx, s, bi, []byte("a@x"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("handle's blind index differs from the Encryptor's (%v)", err)
		}
	})
}

// TestHandleRefuses checks that a Handle refuses what the Encryptor
// refuses, writing nothing: an empty row key, a row tenant the context
// contradicts, a version the tenant never had, a value that is no
// colcrypt value; and that it never prints a key.
func TestHandleRefuses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := field.WithTenant(context.Background(), "acme")
		s := field.Scope{Table: "patients", Column: "email"}
		if _, err := core(e.enc).Handle(ctx, field.Scope{Tenant: "other", Table: "t", Column: "c"}); !errors.Is(err, field.ErrTenantMismatch) {
			t.Errorf("Handle for another tenant: err = %v, want ErrTenantMismatch", err)
		}
		h, err := core(e.enc).Handle(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := h.SealRow(ctx, field.Randomized, "", []byte("dst"), []byte("x")); !errors.Is(err, field.ErrNoRowKey) || v != nil {
			t.Errorf("SealRow without a row key = %q, %v; want nil, ErrNoRowKey", v, err)
		}
		if _, err := h.OpenRow(ctx, "", nil, []byte("x")); !errors.Is(err, field.ErrNoRowKey) {
			t.Errorf("OpenRow without a row key: err = %v, want ErrNoRowKey", err)
		}
		v, err := h.Seal(ctx, field.Randomized, nil, []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		v[2] = 9
		if _, err := h.Open(ctx, nil, v); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("Open under a version the tenant never had: err = %v, want codec.ErrAuth", err)
		}
		var ne *fieldcore.NotEncryptedError
		if _, err := h.Open(ctx, nil, []byte("plain text")); !errors.As(err, &ne) {
			t.Errorf("Open of plaintext: err = %v, want *NotEncryptedError", err)
		}
		dek := unwrapDEK(t, e, "acme", 1)
		for _, out := range []string{fmt.Sprint(h), fmt.Sprintf("%+v", h), fmt.Sprintf("%#v", h)} {
			if leaks(out, dek) || strings.Contains(out, "secret") {
				t.Errorf("a handle prints its key or a plaintext: %q", out)
			}
		}
	})
}

// TestHandleAfterShred checks the key rule that lives in the handle: a
// handle that sealed under a tenant's key does not go on sealing or
// opening with it once the tenant is shredded; it reports the store's
// keystore.ErrKeyDestroyed.
func TestHandleAfterShred(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
		h, err := core(e.enc).Handle(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		v, err := h.Seal(ctx, field.Randomized, nil, []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Open(ctx, nil, v); err != nil {
			t.Fatal(err)
		}
		// A handle that has only opened keeps the cipher it opened with
		// last: it must see the shred too.
		reader, err := core(e.enc).Handle(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := reader.Open(ctx, nil, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.store.Shred(ctx, "acme"); err != nil {
			t.Fatalf("Shred: %v", err)
		}
		if _, err := reader.Open(ctx, nil, v); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("Open after shred, by a handle that only opened: err = %v, want keystore.ErrKeyDestroyed", err)
		}
		if out, err := h.Seal(ctx, field.Randomized, nil, []byte("more")); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("Seal after shred = %d bytes, %v; want keystore.ErrKeyDestroyed", len(out), err)
		}
		if _, err := h.Open(ctx, nil, v); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("Open after shred: err = %v, want keystore.ErrKeyDestroyed", err)
		}
	})
}

// TestHandleForkKeepsVersion checks that a fork seals under the version
// its parent looked up even after a rotation, which a batch split across
// goroutines relies on, while a new handle sees the new version; and that
// the fork's nonces are its own.
func TestHandleForkKeepsVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
		h, err := core(e.enc).Handle(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := h.KeyVersion(ctx); err != nil || v != 1 {
			t.Fatalf("KeyVersion = %d, %v; want 1", v, err)
		}
		if _, err := e.store.Rotate(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		fork := h.Fork()
		a, err := h.Seal(ctx, field.Randomized, nil, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := fork.Seal(ctx, field.Randomized, nil, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if a[2] != 1 || f[2] != 1 {
			t.Errorf("versions after rotation: handle %d, fork %d; want 1 and 1", a[2], f[2])
		}
		if bytes.Equal(a[3:15], f[3:15]) {
			t.Error("a handle and its fork gave the same nonce")
		}
		fresh, err := core(e.enc).Handle(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := fresh.KeyVersion(ctx); err != nil || v != 2 {
			t.Errorf("a new handle's KeyVersion = %d, %v; want 2", v, err)
		}
		if got, err := e.enc.Open(ctx, s, f); err != nil || string(got) != "x" {
			t.Errorf("Open of the fork's value = %q, %v", got, err)
		}
	})
}
