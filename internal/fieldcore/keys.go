package fieldcore

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Keys is the key source an Engine takes: field.Keys, whose doc comment
// states the contract, with the same three methods.
type Keys interface {
	ActiveCipher(ctx context.Context, tenant, table, column string) (*cipher.Cipher, error)
	Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*cipher.Cipher, error)
	LiveCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error)
}

var _ Keys = (*keystore.Store)(nil)
