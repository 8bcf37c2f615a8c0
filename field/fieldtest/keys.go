// Package fieldtest builds a field.Keys from raw data keys, for tests of
// code that takes a field.Encryptor but should not need a key table or a
// KMS: the ciphers it returns are cipher.NewCipher's, exactly what the
// key store derives from the same key, so a value sealed through it
// opens through a store holding that key, and the other way round.
//
// It is for tests only: it holds raw data keys in memory for its whole
// life and never destroys them.
package fieldtest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Key is one raw data key of a tenant: cipher.DEKSize bytes, under a
// version of at least 1.
//
// With IndexKey set it is instead the tenant's index key of that version
// (cipher.IndexKeySize bytes in DEK), from which blind indexes are taken:
// the highest such version is the active one, and a tenant without one
// has no index key (the fake creates none either).
type Key struct {
	Tenant   string
	Version  uint32
	DEK      []byte
	IndexKey bool
}

// NewKeys returns a field.Keys over keys (copied). The highest version of
// a tenant is its active one, and a tenant without keys gets none (it is
// keystore.ErrKeyNotFound): the fake creates no key. A key of the wrong
// size, or version 0, is an error. The result is safe for concurrent use
// and prints as "fieldtest.Keys[redacted]".
func NewKeys(keys ...Key) (field.Keys, error) {
	k := &fakeKeys{keys: map[string]map[uint32][]byte{}, ciphers: map[cipherKey]*cipher.Cipher{},
		index: map[string]map[uint32][]byte{}, indexers: map[indexerKey]*cipher.Indexer{}}
	for _, key := range keys {
		if len(key.DEK) != cipher.DEKSize {
			return nil, fmt.Errorf("fieldtest: data key must be %d bytes, got %d", cipher.DEKSize, len(key.DEK))
		}
		if key.Version == 0 {
			return nil, fmt.Errorf("fieldtest: key version must be at least 1")
		}
		m := k.keys
		if key.IndexKey {
			m = k.index
		}
		if m[key.Tenant] == nil {
			m[key.Tenant] = map[uint32][]byte{}
		}
		m[key.Tenant][key.Version] = append([]byte(nil), key.DEK...)
	}
	return k, nil
}

type fakeKeys struct {
	mu      sync.Mutex
	keys    map[string]map[uint32][]byte // tenant → version → data key
	ciphers map[cipherKey]*cipher.Cipher

	index    map[string]map[uint32][]byte // tenant → version → index key
	indexers map[indexerKey]*cipher.Indexer
}

type indexerKey struct {
	tenant, table, column, name string
	version                     uint32
}

type cipherKey struct {
	tenant, table, column string
	version               uint32
}

// ActiveCipher is the cipher of the tenant's highest version.
func (k *fakeKeys) ActiveCipher(ctx context.Context, tenant, table, column string) (*cipher.Cipher, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	vs := k.versions(tenant)
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: tenant %q", keystore.ErrKeyNotFound, tenant)
	}
	return k.cipher(tenant, vs[0], table, column)
}

func (k *fakeKeys) Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*cipher.Cipher, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cipher(tenant, version, table, column)
}

// LiveCiphers is every version, newest first.
func (k *fakeKeys) LiveCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []*cipher.Cipher
	for _, v := range k.versions(tenant) {
		c, err := k.cipher(tenant, v, table, column)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ActiveIndexer is the indexer under the tenant's highest index key.
func (k *fakeKeys) ActiveIndexer(ctx context.Context, tenant, table, column, name string) (*cipher.Indexer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	vs := versionsOf(k.index[tenant])
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: tenant %q has no index key", keystore.ErrKeyNotFound, tenant)
	}
	return k.indexer(tenant, vs[0], table, column, name)
}

// LegacyIndexCiphers is none: the fake's tenants are all created after
// index keys, so no blind index of theirs is under a data key.
func (k *fakeKeys) LegacyIndexCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error) {
	return nil, nil
}

// LiveIndexers is every index key version, newest first.
func (k *fakeKeys) LiveIndexers(ctx context.Context, tenant, table, column, name string) ([]*cipher.Indexer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []*cipher.Indexer
	for _, v := range versionsOf(k.index[tenant]) {
		x, err := k.indexer(tenant, v, table, column, name)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// indexer derives, once, an indexer; k.mu is held.
func (k *fakeKeys) indexer(tenant string, version uint32, table, column, name string) (*cipher.Indexer, error) {
	ik := indexerKey{tenant, table, column, name, version}
	if x, ok := k.indexers[ik]; ok {
		return x, nil
	}
	x, err := cipher.NewIndexer(k.index[tenant][version], version, table, column, name)
	if err != nil {
		return nil, err
	}
	k.indexers[ik] = x
	return x, nil
}

// versions returns the tenant's versions, newest first; k.mu is held.
func (k *fakeKeys) versions(tenant string) []uint32 { return versionsOf(k.keys[tenant]) }

func versionsOf(m map[uint32][]byte) []uint32 {
	vs := make([]uint32, 0, len(m))
	for v := range m {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] > vs[j] })
	return vs
}

// cipher derives, once, the cipher of (tenant, version, table, column);
// k.mu is held.
func (k *fakeKeys) cipher(tenant string, version uint32, table, column string) (*cipher.Cipher, error) {
	ck := cipherKey{tenant, table, column, version}
	if c, ok := k.ciphers[ck]; ok {
		return c, nil
	}
	dek, ok := k.keys[tenant][version]
	if !ok {
		return nil, fmt.Errorf("%w: tenant %q version %d", keystore.ErrKeyNotFound, tenant, version)
	}
	c, err := cipher.NewCipher(dek, version, codec.Scope{Tenant: tenant, Table: table, Column: column})
	if err != nil {
		return nil, err
	}
	k.ciphers[ck] = c
	return c, nil
}

// String keeps the data keys out of fmt output.
func (k *fakeKeys) String() string { return "fieldtest.Keys[redacted]" }

// GoString is String, for %#v.
func (k *fakeKeys) GoString() string { return k.String() }
