package keystore

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// LiveCiphers returns the cipher of table and column under each of the
// tenant's live keys, newest first: [Store.liveKeys] followed by
// the key's Cipher, so that field's key-source interface speaks only of
// ciphers, which a test can build from a raw key, and never of *dataKey,
// which only the store can. A tenant without keys has none (nil, nil).
func (s *Store) LiveCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error) {
	keys, err := s.liveKeys(ctx, tenant)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	out := make([]*cipher.Cipher, 0, len(keys))
	for _, k := range keys {
		c, err := k.Cipher(table, column)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
