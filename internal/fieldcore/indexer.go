package fieldcore

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// Which version of the tenant's index key an index under the index key
// is taken under, for blind indexes (BlindIndex) and named ones (Index)
// alike: the active one, or for IndexRotating the version before it, so
// that the old column keeps its values while an index key rotation fills a
// new one (docs/ROTATING.md).

// writeIndexer returns the indexer a new value of the index (table,
// column, name) with keying k is taken under: the tenant's active index
// key, created on first use, or for IndexRotating the version before it
// when there is one.
func (e *Engine) writeIndexer(ctx context.Context, tenant, table, column, name string, k IndexKeying) (*cipher.Indexer, error) {
	x, err := e.s.keys.ActiveIndexer(ctx, tenant, table, column, name)
	if err != nil || k != IndexRotating {
		return x, err
	}
	live, err := e.s.keys.LiveIndexers(ctx, tenant, table, column, name)
	if err != nil {
		return nil, err
	}
	if len(live) > 1 {
		return live[1], nil
	}
	return x, nil
}

// lookupIndexer returns the indexer a lookup of that index takes its one
// index-key value under: the newest live version, or for IndexRotating the
// one before it when there is one; nil for a tenant without an index key
// (a lookup creates none, and no row can match).
func (e *Engine) lookupIndexer(ctx context.Context, tenant, table, column, name string, k IndexKeying) (*cipher.Indexer, error) {
	live, err := e.s.keys.LiveIndexers(ctx, tenant, table, column, name)
	if err != nil || len(live) == 0 {
		return nil, err
	}
	if k == IndexRotating && len(live) > 1 {
		return live[1], nil
	}
	return live[0], nil
}
