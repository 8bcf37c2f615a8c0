package field

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Keys is the key source an Encryptor needs: ciphers, by tenant, key
// version, table and column, and the indexers of blind indexes. *keystore.Store implements it from its
// lock-free indexes. The methods are the fast paths themselves, not
// extras found by a type assertion, so a wrapper around the store (one
// that counts or logs calls, say) keeps them by forwarding six methods
// (their results are [Cipher]s and [Indexer]s), and a test builds a Keys from raw data
// keys with package fieldtest.
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
	ActiveCipher(ctx context.Context, tenant, table, column string) (*cipher.Cipher, error)
	// Cipher returns the cipher that opens values of table and column
	// sealed under the given version of the tenant's key.
	Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*cipher.Cipher, error)
	// LiveCiphers returns the cipher of table and column under every
	// version that still decrypts, newest first; none (nil, nil) for a
	// tenant without keys, which it must not create.
	LiveCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error)
	// ActiveIndexer returns the indexer of the blind index name on table
	// and column under the tenant's active index key (a key of its own,
	// which data-key rotation leaves alone), creating version 1 on first
	// use.
	ActiveIndexer(ctx context.Context, tenant, table, column, name string) (*Indexer, error)
	// LiveIndexers returns the indexer of the blind index name on table
	// and column under every live version of the tenant's index key,
	// newest first; none (nil, nil) for a tenant without one, which it
	// must not create.
	LiveIndexers(ctx context.Context, tenant, table, column, name string) ([]*Indexer, error)
	// LegacyIndexCiphers returns the cipher of table and column under
	// each live data key version that may carry a blind index a release
	// before index keys took under the data key, newest first; none
	// (nil, nil) for a tenant with none, which is every tenant created
	// since. The default keying (IndexAuto) matches these too.
	LegacyIndexCiphers(ctx context.Context, tenant, table, column string) ([]*Cipher, error)
}

var _ Keys = (*keystore.Store)(nil)

// Cipher is one column's key, ready to seal and open: what a Keys hands
// out. Applications never use one directly (the Encryptor and the
// integrations do); the name exists so that code outside colcrypt can
// write a Keys that wraps another, forwarding its ciphers, and so that a
// *keystore.Store's cipher lookups have a nameable result type.
type Cipher = cipher.Cipher

// Indexer is one blind index's key under one version of a tenant's index
// key: what a Keys hands out for blind indexes, named for the same reason
// as Cipher.
type Indexer = cipher.Indexer
