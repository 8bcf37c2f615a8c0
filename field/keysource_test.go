package field_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/field/fieldtest"
	"github.com/colcrypt/colcrypt/keystore"
)

// countingKeys wraps a key store the way an application would (to count
// or log lookups): it forwards field.Keys's methods and nothing else,
// naming only exported types, as code outside the module must.
type countingKeys struct {
	store          *keystore.Store
	active, opened atomic.Int64
}

func (k *countingKeys) ActiveCipher(ctx context.Context, tenant, table, column string) (*field.Cipher, error) {
	k.active.Add(1)
	return k.store.ActiveCipher(ctx, tenant, table, column)
}

func (k *countingKeys) Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*field.Cipher, error) {
	k.opened.Add(1)
	return k.store.Cipher(ctx, tenant, version, table, column)
}

func (k *countingKeys) LiveCiphers(ctx context.Context, tenant, table, column string) ([]*field.Cipher, error) {
	return k.store.LiveCiphers(ctx, tenant, table, column)
}

func (k *countingKeys) ActiveIndexer(ctx context.Context, tenant, table, column, name string) (*field.Indexer, error) {
	return k.store.ActiveIndexer(ctx, tenant, table, column, name)
}

func (k *countingKeys) LegacyIndexCiphers(ctx context.Context, tenant, table, column string) ([]*field.Cipher, error) {
	return k.store.LegacyIndexCiphers(ctx, tenant, table, column)
}

func (k *countingKeys) LiveIndexers(ctx context.Context, tenant, table, column, name string) ([]*field.Indexer, error) {
	return k.store.LiveIndexers(ctx, tenant, table, column, name)
}

// TestKeysWrapperKeepsFastPath checks that an Encryptor over a wrapper of
// the key store takes the store's indexed lookups, as one over the store
// does: every seal and open reaches the wrapper's ActiveCipher or Cipher
// once, and a warm seal and open allocate what they allocate over the
// store itself (the value, the plaintext), no key lookup of their own.
func TestKeysWrapperKeepsFastPath(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		w := &countingKeys{store: e.store}
		wrapped := field.NewEncryptor(w)
		ctx := context.Background()
		s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
		pt := bytes.Repeat([]byte("p"), 64)
		v, err := wrapped.Seal(ctx, s, pt)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if got, err := e.enc.Open(ctx, s, v); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open over the store of a value sealed over the wrapper = %q, %v", got, err)
		}
		const n = 10
		for range n {
			if _, err := wrapped.Seal(ctx, s, pt); err != nil {
				t.Fatal(err)
			}
			if _, err := wrapped.Open(ctx, s, v); err != nil {
				t.Fatal(err)
			}
		}
		if a, o := w.active.Load(), w.opened.Load(); a != n+1 || o != n {
			t.Errorf("wrapper saw %d ActiveCipher and %d Cipher calls, want %d and %d", a, o, n+1, n)
		}
		if raceEnabled {
			return
		}
		for _, tt := range []struct {
			name string
			enc  *field.Encryptor
		}{{"store", e.enc}, {"wrapper", wrapped}} {
			seal := testing.AllocsPerRun(100, func() { tt.enc.Seal(ctx, s, pt) })
			open := testing.AllocsPerRun(100, func() { tt.enc.Open(ctx, s, v) })
			if seal != 1 || open != 1 {
				t.Errorf("over the %s: Seal allocs = %v, Open allocs = %v; want 1 and 1", tt.name, seal, open)
			}
		}
	})
}

// TestFakeKeysFromRawKey checks that an Encryptor over fieldtest.Keys,
// built from a raw data key with no database or KMS, seals and opens,
// refuses a version it does not have as codec.ErrAuth, and that its
// values are those of the key store holding the same key: a value sealed
// by the store opens through the fake.
func TestFakeKeysFromRawKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
		stored, err := e.enc.Seal(ctx, s, []byte("from the store"))
		if err != nil {
			t.Fatal(err)
		}
		fake, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: unwrapDEK(t, e, "acme", 1)})
		if err != nil {
			t.Fatal(err)
		}
		enc := field.NewEncryptor(fake)
		if got, err := enc.Open(ctx, s, stored); err != nil || string(got) != "from the store" {
			t.Fatalf("fake Open of a store's value = %q, %v", got, err)
		}
		v, err := enc.SealRow(ctx, s, field.Deterministic, "row-1", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.enc.OpenRow(ctx, s, "row-1", v); err != nil || string(got) != "secret" {
			t.Fatalf("store OpenRow of the fake's value = %q, %v", got, err)
		}
		other := bytes.Clone(stored)
		other[2] = 7 // a version the fake does not have
		if _, err := enc.Open(ctx, s, other); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("Open under an unknown version: err = %v, want codec.ErrAuth", err)
		}
		if _, err := enc.Seal(ctx, field.Scope{Tenant: "nobody", Table: "t", Column: "c"}, []byte("x")); !errors.Is(err, keystore.ErrKeyNotFound) {
			t.Errorf("Seal for a tenant without keys: err = %v, want keystore.ErrKeyNotFound", err)
		}
	})
}

// TestFakeKeysRefusesBadKey checks that NewKeys refuses a data key of
// the wrong size or version 0, and that its keys print redacted.
func TestFakeKeysRefusesBadKey(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	if _, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: key[1:]}); err == nil {
		t.Error("NewKeys with a short key: no error")
	}
	if _, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 0, DEK: key}); err == nil {
		t.Error("NewKeys with version 0: no error")
	}
	fake, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: key})
	if err != nil {
		t.Fatal(err)
	}
	enc := field.NewEncryptor(fake)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, x := range []any{fake, enc} {
			if out := fmt.Sprintf(verb, x); strings.Contains(out, string(key)) || strings.Contains(out, fmt.Sprintf("%x", key)) || strings.Contains(out, fmt.Sprint(key)) {
				t.Errorf("Sprintf(%q, %T) = %q holds the data key", verb, x, out)
			}
		}
	}
}
