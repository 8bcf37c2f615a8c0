// Package handscoped is a benchmark baseline: the hand-written AES-GCM
// column encryption a team writes without colcrypt, made to do the work
// colcrypt does for every value, so that benchmarks can show how much of
// colcrypt's cost over a plain single-key baseline is that work, and how
// much is left to take out.
//
// Per value it resolves the tenant (the row's, refused if the context
// names another, as field.Encryptor.ResolveTenant does), looks the key of
// the (tenant, table, column) up in a map under a read lock, checks the
// value's header, and authenticates the same associated data as
// colcrypt: the value's 3-byte header ‖ lp(tenant) ‖ lp(table) ‖
// lp(column), built once per key. Its values have colcrypt's length and
// layout (header ‖ nonce ‖ ciphertext ‖ tag). It has no key store, KMS,
// key versions, TTL or eviction: one random AES-256 key per (tenant,
// table, column), made on first use and kept. It is not for production.
package handscoped

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
)

const (
	nonceSize = 12
	tagSize   = 16
)

// Scope is where a value lives.
type Scope struct{ Tenant, Table, Column string }

// Baseline holds the keys; it is safe for concurrent use.
type Baseline struct {
	hdr       []byte
	ctxTenant func(context.Context) (string, bool)
	mu        sync.RWMutex
	keys      map[Scope]*key
}

type key struct {
	aead cipher.AEAD // explicit 12-byte nonce
	aad  []byte
}

// ErrTenant is a value of no tenant, or of a tenant the context refuses.
var ErrTenant = errors.New("handscoped: tenant refused")

// ErrValue is a value that is not one of the baseline's or fails to
// authenticate.
var ErrValue = errors.New("handscoped: value refused")

// New returns a Baseline writing hdr (the first three bytes of a colcrypt
// value it stands beside) in front of every value, reading the request's
// tenant with ctxTenant (field.TenantFromContext; nil for none).
func New(hdr []byte, ctxTenant func(context.Context) (string, bool)) *Baseline {
	if ctxTenant == nil {
		ctxTenant = func(context.Context) (string, bool) { return "", false }
	}
	return &Baseline{hdr: append([]byte(nil), hdr[:3]...), ctxTenant: ctxTenant, keys: make(map[Scope]*key)}
}

// AAD is the associated data of a value of s: colcrypt's.
func (b *Baseline) AAD(s Scope) []byte {
	aad := append([]byte(nil), b.hdr...)
	for _, p := range []string{s.Tenant, s.Table, s.Column} {
		aad = binary.AppendUvarint(aad, uint64(len(p)))
		aad = append(aad, p...)
	}
	return aad
}

// resolve is colcrypt's tenant rule: the row's tenant, refused if the
// context names another, else the context's.
func (b *Baseline) resolve(ctx context.Context, row string) (string, error) {
	t, ok := b.ctxTenant(ctx)
	switch {
	case row != "" && ok && t != row:
		return "", ErrTenant
	case row != "":
		return row, nil
	case ok:
		return t, nil
	}
	return "", ErrTenant
}

func (b *Baseline) key(s Scope) *key {
	b.mu.RLock()
	k := b.keys[s]
	b.mu.RUnlock()
	if k != nil {
		return k
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if k = b.keys[s]; k != nil {
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
	k = &key{aead: aead, aad: b.AAD(s)}
	b.keys[s] = k
	return k
}

// Seal returns header ‖ nonce ‖ AES-GCM(plaintext, AAD) for a value of s.
func (b *Baseline) Seal(ctx context.Context, s Scope, plaintext []byte) ([]byte, error) {
	tenant, err := b.resolve(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	s.Tenant = tenant
	k := b.key(s)
	n := len(b.hdr)
	out := make([]byte, n+nonceSize, n+nonceSize+len(plaintext)+tagSize)
	copy(out, b.hdr)
	rand.Read(out[n:])
	return k.aead.Seal(out, out[n:], plaintext, k.aad), nil
}

// Open returns the plaintext of a value of s, in a new slice.
func (b *Baseline) Open(ctx context.Context, s Scope, value []byte) ([]byte, error) {
	tenant, err := b.resolve(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	s.Tenant = tenant
	k := b.key(s)
	n := len(b.hdr)
	if len(value) < n+nonceSize+tagSize || string(value[:n]) != string(b.hdr) {
		return nil, ErrValue
	}
	pt, err := k.aead.Open(nil, value[n:n+nonceSize], value[n+nonceSize:], k.aad)
	if err != nil {
		return nil, ErrValue
	}
	return pt, nil
}

// Rekey gives s the key of from under s's own associated data, so a test
// can check that the associated data alone refuses a moved value.
func (b *Baseline) Rekey(s, from Scope) {
	k := b.key(from)
	b.mu.Lock()
	b.keys[s] = &key{aead: k.aead, aad: b.AAD(s)}
	b.mu.Unlock()
}
