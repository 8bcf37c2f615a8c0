package field

import (
	"context"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/keystore"
)

// Keys is the key source an Encryptor needs: ciphers, by tenant, key
// version, table and column. *keystore.Store implements it from its
// lock-free indexes. The methods are the fast paths themselves, not
// extras found by a type assertion, so a wrapper around the store (one
// that counts or logs calls, say) keeps them by forwarding three methods,
// and a fake builds its results from a raw data key with
// codec.NewCipher (see package fieldtest).
//
// Errors are the store's: keystore.ErrKeyNotFound for a version the
// tenant never had (the Encryptor turns it into codec.ErrAuth),
// keystore.ErrKeyEvicted for a key that left the cache between lookup
// and derivation (the Encryptor asks again), keystore.ErrKeyDestroyed
// for a shredded tenant.
type Keys interface {
	// ActiveCipher returns the cipher that seals new values of table and
	// column: the tenant's active key's, creating version 1 on first
	// use. Its Version is the key version it seals under.
	ActiveCipher(ctx context.Context, tenant, table, column string) (*codec.Cipher, error)
	// Cipher returns the cipher that opens values of table and column
	// sealed under the given version of the tenant's key.
	Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*codec.Cipher, error)
	// LiveCiphers returns the cipher of table and column under every
	// version that still decrypts, newest first; none (nil, nil) for a
	// tenant without keys, which it must not create.
	LiveCiphers(ctx context.Context, tenant, table, column string) ([]*codec.Cipher, error)
}

var _ Keys = (*keystore.Store)(nil)
