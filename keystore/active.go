package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/colcrypt/colcrypt/internal/cipher"
)

// Active returns the version of the tenant's active key, the one new
// values are sealed under: its highest live (active or retired) version, whatever the key
// table's state column says (see the package doc). The first call for a
// tenant without rows creates its first key, unless TenantPolicy.KnownOnly
// or TenantPolicy.Validate refuse it (ErrUnknownTenant).
//
// For a tenant whose active key is cached this is one map lookup under a
// read lock and an atomic read of the coarse clock; no allocation, no
// I/O, no logging. (Sealing goes through ActiveCipher, which takes no
// lock.) Otherwise the active row is read (and its key unwrapped) once
// however many goroutines ask.
//
// Creating version 1 is safe against other processes doing the same: each
// wraps a fresh key and inserts it if absent, then everyone reads the row
// that won and uses that key; a loser's key is zeroed unused. Nothing is
// ever sealed under a key that is not in the table.
//
// Active fails with ErrKeyDestroyed for a shredded tenant, and does not
// create a new key for it; with an Error of kind ErrKeyNotFound when the table shows
// fewer versions than this process saw; with ErrVersionTooOld when the
// highest live version is below the tenant's minimum (TenantPolicy.MinVersion).
func (s *Store) Active(ctx context.Context, tenant string) (version uint32, err error) {
	k, err := s.active(ctx, tenant)
	if err != nil {
		return 0, err
	}
	return k.Version(), nil
}

// active is Active returning the key itself.
func (s *Store) active(ctx context.Context, tenant string) (*dataKey, error) {
	if k, stale, ok := s.cache.active(tenant, s.clock.fast()); ok {
		s.countHit(stale)
		return k, nil
	}
	return s.activeSlow(ctx, tenant)
}

// ActiveCipher returns the cipher for new values of table and column: the
// tenant's active key's, Active followed by the key's Cipher in one step,
// with their errors. The cipher's Version is the key version it seals
// under. It is the hot path of sealing a value: once (tenant, table,
// column) was asked for, a call while the active key is cached is one
// hashed lookup with no lock, no I/O, no allocation and no write to
// memory another core is writing. It answers exactly when Active would
// answer from the cache (the active version's own expiry included, so a
// rotation is seen as by Active), and counts as a hit or a miss like it.
func (s *Store) ActiveCipher(ctx context.Context, tenant, table, column string) (*cipher.Cipher, error) {
	if c, stale, ok := s.cache.activeCipher(tenant, table, column, s.clock.fast()); ok {
		s.countHit(stale)
		return c, nil
	}
	k, err := s.active(ctx, tenant)
	if err != nil {
		return nil, err
	}
	c, err := k.Cipher(table, column)
	if err != nil {
		return nil, err
	}
	s.cache.indexActive(k)
	return c, nil
}

func (s *Store) activeSlow(ctx context.Context, tenant string) (*dataKey, error) {
	if err := s.errIfClosed(); err != nil {
		return nil, err
	}
	if err := validTenant(tenant); err != nil {
		return nil, err
	}
	s.ctr.misses.Add(1)
	if s.cache.isDestroyed(tenant) {
		return nil, fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keystore: active key of tenant %q: %w", tenant, err)
	}
	r, err := s.flights.do(ctx, flightKey{kind: flightActive, tenant: tenant}, func(ctx context.Context) (flightResult, error) {
		return s.loadActive(ctx, tenant, false)
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("keystore: active key of tenant %q: %w", tenant, err)
		}
		return nil, err
	}
	if r.stale {
		s.ctr.staleServed.Add(1)
	}
	return r.key, nil
}

// maxCreateAttempts bounds get-or-create's loop. A second pass happens
// only when the insert lost to a row that was no longer active when read
// back (rotated or shredded in between).
const maxCreateAttempts = 3

// loadActive chooses the tenant's sealing key and returns it, creating
// the first key if the tenant has no row and the creation policy allows
// (explicit is true for InitTenant).
//
// The sealing key is the highest live version, not the row whose state
// says active (see sealRow). A new version is never made while live rows
// exist, and never under a number the table, or this process, has seen:
// a table that shows fewer versions than before fails with a
// an Error of kind ErrKeyNotFound instead.
func (s *Store) loadActive(ctx context.Context, tenant string, explicit bool) (flightResult, error) {
	// A caller that missed the cache just before the previous load
	// finished starts a new flight: answer it from the cache that load
	// filled, not with a second read and unwrap.
	if k, stale, ok := s.cache.active(tenant, s.clock.precise()); ok {
		return flightResult{key: k, stale: stale}, nil
	}
	for range maxCreateAttempts {
		seen := s.marks.highest(tenant)
		t, err := s.readTenant(ctx, s.db, tenant)
		if err != nil {
			return flightResult{}, err
		}
		if err := s.marks.observe(tenant, t.max, seen); err != nil {
			s.cache.forgetTenantViews(tenant)
			return flightResult{}, err
		}
		if t.top != nil {
			row := s.sealRow(ctx, tenant, t)
			if err := s.checkMin(tenant, row.version); err != nil {
				return flightResult{}, fmt.Errorf("%w (rotate the tenant's key)", err)
			}
			return s.useActive(ctx, tenant, row)
		}
		if t.destroyed > 0 {
			s.cache.destroyTenant(tenant)
			return flightResult{}, fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
		}
		if err := s.mayCreate(ctx, tenant, explicit); err != nil {
			return flightResult{}, err
		}
		if t.max >= 1<<32-1 {
			return flightResult{}, fmt.Errorf("keystore: tenant %q has used every key version", tenant)
		}
		r, done, err := s.create(ctx, tenant, max(t.max+1, s.minVersion(tenant)))
		if err != nil || done {
			return r, err
		}
	}
	return flightResult{}, fmt.Errorf("%w: creating the first key of tenant %q", ErrConflict, tenant)
}

// useActive returns the key of the tenant's active row and records it as
// the active version.
func (s *Store) useActive(ctx context.Context, tenant string, row keyRow) (flightResult, error) {
	r, err := s.keyFromRow(ctx, tenant, row)
	if err != nil {
		return flightResult{}, err
	}
	now := s.clock.precise()
	s.cache.setActive(r.key, now, now+ticks(s.ttl))
	return r, nil
}

// create is get-or-create's insert-if-absent: wrap a fresh key as version
// v, insert it unless a row conflicts, read back the active row and use
// whichever key won. done is false when no active row could be read back,
// and the caller should look again.
func (s *Store) create(ctx context.Context, tenant string, v uint32) (r flightResult, done bool, err error) {
	dek := newDEK()
	defer func() {
		if dek != nil {
			clear(dek)
		}
	}()
	copies, err := s.wrapRing(ctx, tenant, v, dek)
	if err != nil {
		return flightResult{}, false, err
	}
	wrapped := copies[0].wrapped
	chain, err := s.auditRef(ctx)
	if err != nil {
		return flightResult{}, false, err
	}
	// A unique violation, or a deadlock InnoDB broke by rolling the
	// transaction back, means another process got there first: read back
	// its row.
	qctx, span := s.querySpan(ctx, "insert_active", tenant)
	err = s.insertFirst(qctx, chain, tenant, v, copies)
	endSpan(span, err)
	if errors.Is(err, errAssignmentRace) {
		return flightResult{}, false, nil // wrap again, under the tenant's own key
	}
	if err != nil &&
		!s.dialect.IsUniqueViolation(err) && !s.dialect.IsSerializationFailure(err) {
		return flightResult{}, false, fmt.Errorf("keystore: create key of tenant %q: %w", tenant, err)
	}
	row, found, err := s.readActive(ctx, tenant)
	if err != nil || !found {
		return flightResult{}, false, err
	}
	if row.version != v || !bytes.Equal(row.wrapped, wrapped) {
		// Another process won, or the tenant changed since: choose again
		// from what the table shows now.
		return flightResult{}, false, nil
	}
	if err := s.marks.vouch(tenant, v, dek); err != nil {
		return flightResult{}, false, err
	}
	// Ours is in the table: use it without asking the KMS to unwrap it.
	k, _, err := s.cache.install(keyID{tenant, v}, dek, s.clock.precise(), s.ttl, s.grace)
	dek = nil // the cache owns it now, or zeroed it
	if err != nil {
		return flightResult{}, false, fmt.Errorf("%w: tenant %q", err, tenant)
	}
	now := s.clock.precise()
	s.cache.setActive(k, now, now+ticks(s.ttl))
	return flightResult{key: k}, true, nil
}

// insertFirst inserts the tenant's first key unless a row conflicts and,
// when it did insert, its further copies and its audit event in the same
// transaction.
func (s *Store) insertFirst(ctx context.Context, chain chainRef, tenant string, v uint32, copies []wrapCopy) (err error) {
	kekURI, wrapped := copies[0].kekURI, copies[0].wrapped
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ts := s.dialect.TimeArg(s.clock.wall())
	res, err := tx.ExecContext(ctx, s.q.InsertActive, tenant, int64(v), kekURI, wrapped, ts, ts)
	if err != nil {
		return err
	}
	// After the insert, which took SQLite's write lock: a read first would
	// hold a snapshot that SQLite refuses to upgrade (SQLITE_BUSY, without
	// waiting) once another writer committed.
	if err = s.checkOwnKEK(ctx, tx, tenant, copies); err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 1 {
		// After the insert, not before: on SQLite a transaction that
		// reads first and writes second fails at once (SQLITE_BUSY, no
		// busy wait) when another connection wrote in between; the
		// insert takes the write lock first. A race lost here rolls the
		// insert back.
		if err = s.checkOwnKEK(ctx, tx, tenant, copies); err != nil {
			return err
		}
		if err = s.insertCopies(ctx, tx, tenant, v, copies, ts); err != nil {
			return err
		}
		if err = s.appendEvent(ctx, tx, chain, opCreate, tenant, v, kekURI); err != nil {
			return err
		}
	}
	return tx.Commit()
}
