package sqltypes_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

// The hand-written baseline doing colcrypt's per-value work: what the
// baseline of handwritten_test.go becomes once it must keep tenants
// apart. Per value it resolves the tenant (the row's, checked against
// the context's), looks the (tenant, table, column)'s key up in a map
// under a read lock, checks the value's header, and authenticates the
// same associated data colcrypt does — the value's 3-byte header ‖
// lp(tenant) ‖ lp(table) ‖ lp(column), built once per key — so its stored
// values have colcrypt's length and layout (header ‖ nonce ‖ ciphertext ‖
// tag). It has no key store, KMS, key versions, TTL or eviction: one
// random AES-256 key per (tenant, table, column), made on first use.
// Against it, what colcrypt adds beyond the work any tenant-binding
// scheme does is what is left to take out.
type handScoped struct {
	hdr  []byte // colcrypt's header of the values it stands beside
	mu   sync.RWMutex
	keys map[handScope]*handScopedKey
}

type handScope struct{ tenant, table, column string }

type handScopedKey struct {
	aead cipher.AEAD // explicit 12-byte nonce
	aad  []byte      // hdr ‖ lp(tenant) ‖ lp(table) ‖ lp(column)
}

type handTenantKey struct{}

// newHandScoped returns the baseline, writing the header hdr (a copy of a
// colcrypt value's first three bytes) in front of every value.
func newHandScoped(hdr []byte) *handScoped {
	return &handScoped{hdr: append([]byte(nil), hdr[:3]...), keys: make(map[handScope]*handScopedKey)}
}

// resolve is the tenant rule colcrypt applies: the row's tenant, refused
// if the context names another.
func (h *handScoped) resolve(ctx context.Context, row string) (string, error) {
	if t, ok := ctx.Value(handTenantKey{}).(string); ok && t != "" && t != row {
		return "", errors.New("handScoped: tenant mismatch")
	}
	if row == "" {
		return "", errors.New("handScoped: no tenant")
	}
	return row, nil
}

func (h *handScoped) key(s handScope) *handScopedKey {
	h.mu.RLock()
	k := h.keys[s]
	h.mu.RUnlock()
	if k != nil {
		return k
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if k = h.keys[s]; k != nil {
		return k
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	block, err := aes.NewCipher(raw)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	k = &handScopedKey{aead: aead, aad: h.aad(s)}
	h.keys[s] = k
	return k
}

// aad is colcrypt's associated data for a value of s.
func (h *handScoped) aad(s handScope) []byte {
	aad := append([]byte(nil), h.hdr...)
	for _, p := range []string{s.tenant, s.table, s.column} {
		aad = binary.AppendUvarint(aad, uint64(len(p)))
		aad = append(aad, p...)
	}
	return aad
}

// seal is the Valuer's work: header ‖ nonce ‖ AES-GCM(plaintext, aad).
func (h *handScoped) seal(ctx context.Context, s handScope, pt []byte) ([]byte, error) {
	tenant, err := h.resolve(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	s.tenant = tenant
	k := h.key(s)
	out := make([]byte, len(h.hdr)+12, len(h.hdr)+12+len(pt)+16)
	copy(out, h.hdr)
	rand.Read(out[len(h.hdr):])
	return k.aead.Seal(out, out[len(h.hdr):], pt, k.aad), nil
}

// open is the Scanner's work: resolve, look up, check the header, open.
func (h *handScoped) open(ctx context.Context, s handScope, v []byte) ([]byte, error) {
	tenant, err := h.resolve(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	s.tenant = tenant
	k := h.key(s)
	n := len(h.hdr)
	if len(v) < n+12+16 || string(v[:n]) != string(h.hdr) {
		return nil, errors.New("handScoped: not a value")
	}
	return k.aead.Open(nil, v[n:n+12], v[n+12:], k.aad)
}

// handScopedValue is the baseline's Valuer for a string.
type handScopedValue struct {
	h     *handScoped
	ctx   context.Context
	scope handScope
	s     string
}

func (v handScopedValue) Value() (driver.Value, error) {
	return v.h.seal(v.ctx, v.scope, []byte(v.s))
}

// handScopedString is the baseline's Scanner for a string.
type handScopedString struct {
	h     *handScoped
	ctx   context.Context
	scope handScope
	dst   *string
}

func (s *handScopedString) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return errors.New("handScopedString: not bytea")
	}
	pt, err := s.h.open(s.ctx, s.scope, b)
	if err != nil {
		return err
	}
	*s.dst = string(pt)
	return nil
}

// TestHandScopedBindsScope keeps the baseline honest: it must refuse a
// value moved to another column or tenant, as colcrypt does, or it would
// be doing less work than it claims.
func TestHandScopedBindsScope(t *testing.T) {
	ctx := context.Background()
	h := newHandScoped([]byte{0xC0, 1, 1})
	a := handScope{"acme", "t", "a"}
	v, err := h.seal(ctx, a, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := h.open(ctx, a, v); err != nil || string(pt) != "secret" {
		t.Fatalf("open = %q, %v, want secret", pt, err)
	}
	if len(v) != 3+12+len("secret")+16 {
		t.Fatalf("len(value) = %d, want colcrypt's %d", len(v), 3+12+len("secret")+16)
	}
	for _, s := range []handScope{{"acme", "t", "b"}, {"other", "t", "a"}, {"acme", "u", "a"}} {
		// The same key under s's associated data: only the AAD can
		// refuse the move.
		k := *h.keys[a]
		k.aad = h.aad(s)
		h.keys[s] = &k
		if _, err := h.open(ctx, s, v); err == nil {
			t.Errorf("open(%v) of a value of %v succeeded", s, a)
		}
	}
	if _, err := h.open(context.WithValue(ctx, handTenantKey{}, "other"), a, v); err == nil {
		t.Errorf("open under another context tenant succeeded")
	}
}
