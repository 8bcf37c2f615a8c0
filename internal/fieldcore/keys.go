package fieldcore

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Keys is the key source an Engine takes: field.Keys, whose doc comment
// states the contract, with the same methods.
type Keys interface {
	ActiveCipher(ctx context.Context, tenant, table, column string) (*cipher.Cipher, error)
	Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*cipher.Cipher, error)
	LiveCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error)
	ActiveIndexer(ctx context.Context, tenant, table, column, name string) (*cipher.Indexer, error)
	LiveIndexers(ctx context.Context, tenant, table, column, name string) ([]*cipher.Indexer, error)
	LegacyIndexCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error)
}

var _ Keys = (*keystore.Store)(nil)
