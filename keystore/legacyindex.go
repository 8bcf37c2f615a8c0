package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// Blind indexes taken under the data key.
//
// Releases before index keys took every blind index under a subkey of the
// tenant's data key version; this one takes them under the tenant's index
// key. Rows written before the upgrade keep the old values until `colcrypt
// migrate reindex` rewrites them, and a lookup must go on finding them:
// the default keying of a blind index (field.IndexAuto) matches, beside
// the index key's value, the legacy value under each live data key version
// that may hold one. Which versions may is what the legacy index table
// records: the upgrade to schema version 4 writes every tenant of the key
// table with its newest version, so a tenant created since has no row and
// its lookups send one value, and a tenant's versions made since (a
// rotation after the upgrade) are not tried either.
//
// The table holds no secret and decides no key: a row an attacker adds
// makes lookups try more of the tenant's own keys, which match only
// values the tenant's keys made; a row removed stops old rows from
// matching until they are reindexed.

// maxLegacyMarks bounds the tenants whose mark a Store remembers; past it
// the map starts again empty. A mark is a few dozen bytes and one
// indexed read to refill.
const maxLegacyMarks = 1 << 16

// legacyIndexes caches the legacy index table: whether it has any row
// (the common case after a fresh install is none, and then no tenant
// needs a read), and each tenant's mark, each for the cache's TTL, so
// that a mark cleared or recorded by another process takes effect within
// a TTL.
type legacyIndexes struct {
	db    *sql.DB
	q     *sqldialect.LegacyIndexQueries
	clock *clock
	ttl   int64

	mu       sync.Mutex
	anyUntil int64 // the clock tick until which any holds; 0: unread
	any      bool
	marks    map[string]legacyMark
}

type legacyMark struct {
	through uint32 // 0: none
	until   int64
}

func newLegacyIndexes(s *Store) *legacyIndexes {
	return &legacyIndexes{
		db: s.db, q: s.dialect.LegacyIndexQueries(s.table), clock: s.clock, ttl: ticks(s.ttl),
		marks: make(map[string]legacyMark),
	}
}

// through returns the newest of the tenant's data key versions that may
// carry a blind index taken under the data key; 0 for none.
func (l *legacyIndexes) through(ctx context.Context, tenant string) (uint32, error) {
	now := l.clock.fast()
	l.mu.Lock()
	if l.anyUntil > now && !l.any {
		l.mu.Unlock()
		return 0, nil
	}
	if m, ok := l.marks[tenant]; ok && m.until > now && l.anyUntil > now {
		l.mu.Unlock()
		return m.through, nil
	}
	needAny := l.anyUntil <= now
	l.mu.Unlock()

	if needAny {
		var one int
		err := l.db.QueryRowContext(ctx, l.q.Any).Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, legacyReadErr(err)
		}
		any := err == nil
		l.mu.Lock()
		l.any, l.anyUntil = any, now+l.ttl
		if !any {
			clear(l.marks)
		}
		l.mu.Unlock()
		if !any {
			return 0, nil
		}
	}
	var v int64
	err := l.db.QueryRowContext(ctx, l.q.Through, tenant).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v = 0
	case err != nil:
		return 0, legacyReadErr(err)
	case v < 0 || v > math.MaxUint32:
		v = math.MaxUint32 // every live version: a bad mark only widens the lookup
	}
	l.mu.Lock()
	if len(l.marks) >= maxLegacyMarks {
		clear(l.marks)
	}
	l.marks[tenant] = legacyMark{through: uint32(v), until: now + l.ttl}
	l.mu.Unlock()
	return uint32(v), nil
}

func legacyReadErr(err error) error {
	return fmt.Errorf("keystore: read the legacy index table (run `colcrypt keys upgrade` if the key table is older than schema version %d): %w", legacyIndexSchema, err)
}

// LegacyIndexCiphers returns the cipher of table and column under each of
// the tenant's live data key versions that may carry a blind index taken
// under the data key by a release before index keys, newest first: the
// versions up to the tenant's mark in the legacy index table. None (nil,
// nil) for a tenant with no mark, which is every tenant created after the
// key table reached schema version 4, and every tenant after
// ClearLegacyIndexes. The default keying of a blind index
// (field.IndexAuto) matches these besides the index key's value.
func (s *Store) LegacyIndexCiphers(ctx context.Context, tenant, table, column string) ([]*cipher.Cipher, error) {
	if s.legacy == nil {
		return nil, nil
	}
	if err := validTenant(tenant); err != nil {
		return nil, err
	}
	through, err := s.legacy.through(ctx, tenant)
	if err != nil || through == 0 {
		return nil, err
	}
	keys, err := s.liveKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	// LiveCiphers, filtered before a cipher is derived: a version newer
	// than the mark gets no cipher for the column from a lookup.
	var out []*cipher.Cipher
	for _, k := range keys {
		if k.version > through {
			continue
		}
		c, err := k.Cipher(table, column)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// MarkLegacyIndexes records every tenant of the key table (WithTable,
// WithDialect) with its newest data key version in the legacy index table,
// raising a tenant's mark, never lowering it, and returns how many tenants
// the table then holds. The upgrade to schema version 4 does this once;
// run it again (`colcrypt keys legacy-indexes --mark`) if processes of a
// release before index keys went on writing after the upgrade, as they do
// during a rolling upgrade: they may have made keys, or rotated, since.
// It needs no master key. Stores see the change within their cache TTL.
func MarkLegacyIndexes(ctx context.Context, db *sql.DB, opts ...Option) (int64, error) {
	d, table, err := tableConfig(db, "MarkLegacyIndexes", opts)
	if err != nil {
		return 0, err
	}
	q := d.LegacyIndexQueries(table)
	if _, err := db.ExecContext(ctx, q.Mark); err != nil {
		return 0, fmt.Errorf("keystore: mark legacy indexes: %w", err)
	}
	return countLegacy(ctx, db, q)
}

// ClearLegacyIndexes removes the tenant's mark from the legacy index
// table, or every tenant's with tenant "", so that its lookups send the
// index key's value alone, and returns how many it removed. Clear a tenant
// once none of its blind indexes is under a data key any more: after
// `colcrypt migrate reindex` of every blind index column a release before
// index keys wrote, or for a tenant that never had one. It needs no
// master key. Stores see the change within their cache TTL.
func ClearLegacyIndexes(ctx context.Context, db *sql.DB, tenant string, opts ...Option) (int64, error) {
	d, table, err := tableConfig(db, "ClearLegacyIndexes", opts)
	if err != nil {
		return 0, err
	}
	q := d.LegacyIndexQueries(table)
	var res sql.Result
	if tenant == "" {
		res, err = db.ExecContext(ctx, q.ClearAll)
	} else if err = validTenant(tenant); err == nil {
		res, err = db.ExecContext(ctx, q.Clear, tenant)
	}
	if err != nil {
		return 0, fmt.Errorf("keystore: clear legacy indexes: %w", err)
	}
	return res.RowsAffected()
}

// CountLegacyIndexes returns how many tenants the legacy index table
// holds: tenants whose lookups also try data key versions.
func CountLegacyIndexes(ctx context.Context, db *sql.DB, opts ...Option) (int64, error) {
	d, table, err := tableConfig(db, "CountLegacyIndexes", opts)
	if err != nil {
		return 0, err
	}
	return countLegacy(ctx, db, d.LegacyIndexQueries(table))
}

func countLegacy(ctx context.Context, db *sql.DB, q *sqldialect.LegacyIndexQueries) (int64, error) {
	var n int64
	if err := db.QueryRowContext(ctx, q.Count).Scan(&n); err != nil {
		return 0, legacyReadErr(err)
	}
	return n, nil
}
