package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/kms"
)

// Index keys
//
// A tenant's index key is a random key, like a data key, from which the
// blind indexes of its values are derived (cipher.Indexer). It lives in a
// key family of its own: a sibling table with the key table's columns
// and statements, named after it (colcrypt_keys_index_keys), whose keys
// the master key wraps under the wrap context purpose indexPurpose. So:
//
//   - Rotate, DestroyVersion and the key events of the key table never
//     touch an index key: a data-key rotation leaves every blind index
//     as it was, a UNIQUE constraint on an index column keeps holding,
//     and an equality lookup needs one index value.
//   - A wrapped data key copied into the index table, or the reverse,
//     does not unwrap: the KMS binds the purpose.
//   - RotateIndexKey rotates the index family only, explicitly; Shred
//     destroys both families; Rewrap rewraps both.
//
// The family is a Store of its own (Store.index), built by New with the
// caller's options, so every rule of the key table holds for it too:
// get-or-create of version 1, versions never issued twice, the cache,
// single-flight, the tenant policy, the audit trail (in the sibling's own
// _events table).

// indexPurpose is the purpose of every index key's KMS wrap context.
const indexPurpose = "colcrypt/index-key/v1"

// indexTableSuffix names the index key table after the key table.
const indexTableSuffix = "_index_keys"

// ErrNoIndexKeys is returned by the index key methods of a Store whose key
// table's name is too long for its index key table's name (the key
// table's name plus "_index_keys") to be a valid table name.
var ErrNoIndexKeys = errors.New("keystore: key table name too long for an index key table (at most 37 bytes)")

// indexTable returns the index key table of the key table called table,
// and whether that name is valid.
func indexTable(table string) (string, bool) {
	t := table + indexTableSuffix
	return t, validTable(t) == nil
}

// newIndexFamily returns the Store of the index key family of a Store
// built with cfg, or nil when the table name leaves no room for it. The
// family has no key events watcher (a Store sees an index key rotation
// within its cache TTL) and sends no Events to the observer, whose kinds
// speak of data keys; its logs carry key_family=index.
func newIndexFamily(db *sql.DB, kek *kms.Keeper, cfg config) (*Store, error) {
	t, ok := indexTable(cfg.table)
	if !ok {
		return nil, nil
	}
	cfg.table = t
	cfg.purpose = indexPurpose
	cfg.indexFamily = true
	cfg.keyEvents = false
	cfg.observe = nil
	cfg.log = cfg.log.With("key_family", "index")
	return New(db, kek, withConfig(cfg))
}

// withConfig makes New start from cfg rather than from the defaults.
func withConfig(cfg config) Option { return func(c *config) { *c = cfg } }

// indexFamily returns the Store of the index key family.
func (s *Store) indexFamily() (*Store, error) {
	if s.index == nil {
		return nil, ErrNoIndexKeys
	}
	return s.index, nil
}

// ActiveIndexer returns the indexer of the index name on table.column
// under the tenant's active index key, creating the tenant's first index
// key (version 1) on first use, under the same rules and tenant policy as
// a first data key. It is what a value's blind index is stored under.
func (s *Store) ActiveIndexer(ctx context.Context, tenant, table, column, name string) (*cipher.Indexer, error) {
	f, err := s.indexFamily()
	if err != nil {
		return nil, err
	}
	k, err := f.active(ctx, tenant)
	if err != nil {
		return nil, indexErr(err)
	}
	return k.indexer(table, column, name)
}

// LiveIndexers returns the indexer of the index name on table.column
// under each of the tenant's live index key versions, newest first; none
// (nil, nil) for a tenant without an index key, which it does not create:
// a lookup has nothing to find then.
func (s *Store) LiveIndexers(ctx context.Context, tenant, table, column, name string) ([]*cipher.Indexer, error) {
	f, err := s.indexFamily()
	if err != nil {
		return nil, err
	}
	keys, err := f.liveKeys(ctx, tenant)
	if err != nil {
		return nil, indexErr(err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([]*cipher.Indexer, 0, len(keys))
	for _, k := range keys {
		x, err := k.indexer(table, column, name)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// RotateIndexKey makes a new version of the tenant's index key active and
// retires the old one, and returns the new version; the tenant's data
// keys are not touched. Every blind index stored under the old version
// stops matching lookups taken under the new one, so rotate an index key
// only as part of the index migration docs/ROTATING.md describes
// ("Rotating an index key"). Errors are Rotate's.
func (s *Store) RotateIndexKey(ctx context.Context, tenant string) (uint32, error) {
	f, err := s.indexFamily()
	if err != nil {
		return 0, err
	}
	v, err := f.Rotate(ctx, tenant)
	return v, indexErr(err)
}

// indexErr says that an error came from the index key family. Sentinels
// (ErrKeyDestroyed, ErrKeyNotFound, KMS errors) stay matchable.
func indexErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("index key: %w", err)
}

// namedIndexer is an indexer of an index key, by what it indexes.
type namedIndexer struct {
	table, column, name string
	x                   *cipher.Indexer
}

// indexer returns the key's indexer of the index name on table.column,
// deriving it on first use and keeping it with the key.
func (k *dataKey) indexer(table, column, name string) (*cipher.Indexer, error) {
	if x := findIndexer(k.st.indexers.Load(), table, column, name); x != nil {
		return x, nil
	}
	st := k.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dek == nil {
		return nil, st.goneErr()
	}
	old := st.indexers.Load()
	if x := findIndexer(old, table, column, name); x != nil {
		return x, nil
	}
	var x *cipher.Indexer
	var err error
	st.dek.Use(func(key []byte) {
		x, err = cipher.NewIndexer(key, k.version, table, column, name)
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	var l []namedIndexer
	if old != nil {
		l = make([]namedIndexer, len(*old), len(*old)+1)
		copy(l, *old)
	}
	l = append(l, namedIndexer{table, column, name, x})
	st.indexers.Store(&l)
	return x, nil
}

func findIndexer(l *[]namedIndexer, table, column, name string) *cipher.Indexer {
	if l == nil {
		return nil
	}
	for _, e := range *l {
		if e.name == name && e.column == column && e.table == table {
			return e.x
		}
	}
	return nil
}

// mayCreateIndexKey says whether the tenant, which has no index key, may
// get its first one: when it has a live data key, or when it could get
// its first data key under the tenant policy. A shredded tenant gets
// none, so a tenant shredded before index keys existed stays without
// keys; a tenant that InitTenant made known under TenantPolicy.KnownOnly
// gets one.
func (s *Store) mayCreateIndexKey(ctx context.Context, tenant string) error {
	sum, err := s.summary(ctx, s.db, tenant)
	if err != nil {
		return err
	}
	switch {
	case sum.rows > sum.destroyed:
		return nil
	case sum.rows > 0:
		return fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
	}
	return s.mayCreate(ctx, tenant, false)
}
