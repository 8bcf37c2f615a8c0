package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// maxRotateAttempts bounds Rotate's optimistic loop against other
// writers of the same tenant.
const maxRotateAttempts = 5

// errRotateRace means the tenant's rows changed between the read that
// chose the new version and the transaction that writes it.
var errRotateRace = errors.New("keystore: rotate race")

// Rotate makes a new version of the tenant's key active and retires the
// old active version, which still opens the values sealed under it, and
// returns the new version: one past every row of the tenant, destroyed
// ones included (a version number is never issued twice), and at least the
// tenant's minimum (TenantPolicy.MinVersion). This process uses the new version at once;
// other processes within their cache TTL.
//
// The new key is wrapped (under every keyring key, see WithKeyring)
// before the transaction, so no row lock is held
// across a KMS call. The transaction then locks the tenant's rows (SELECT
// … FOR UPDATE on Postgres and MySQL; SQLite's write lock), checks that no
// other writer got in first, retires the active row and inserts the new
// one. Concurrent rotations therefore run one after the other, each
// producing its own version; the one-active unique index would reject a
// second active version whatever happened. A lost race, a unique violation or a
// deadlock the server broke (InnoDB) is retried; after maxRotateAttempts
// lost races Rotate fails with ErrConflict.
//
// Rotate fails with ErrKeyNotFound for a tenant that has no key yet
// (Active creates the first), with an Error of kind ErrKeyNotFound when the table shows
// fewer versions than this process saw, and ErrKeyDestroyed for a
// shredded one.
func (s *Store) Rotate(ctx context.Context, tenant string) (uint32, error) {
	if err := s.errIfClosed(); err != nil {
		return 0, err
	}
	if err := validTenant(tenant); err != nil {
		return 0, err
	}
	for attempt := range maxRotateAttempts {
		if attempt > 0 {
			// Lost a race: let the winner's commit settle, jittered so
			// that the losers do not collide again.
			t := time.NewTimer(s.backoff(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, fmt.Errorf("keystore: rotate tenant %q: %w", tenant, ctx.Err())
			case <-t.C:
			}
		}
		seen := s.marks.highest(tenant)
		sum, err := s.summary(ctx, s.db, tenant)
		if err != nil {
			return 0, err
		}
		if err := s.marks.observe(tenant, uint32(sum.maxVersion), seen); err != nil {
			return 0, err
		}
		switch {
		case sum.rows > 0 && sum.rows == sum.destroyed:
			s.cache.destroyTenant(tenant)
			return 0, fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
		case sum.rows == 0:
			return 0, fmt.Errorf("%w: tenant %q has no key to rotate", ErrKeyNotFound, tenant)
		case sum.maxVersion >= 1<<32-1:
			return 0, fmt.Errorf("keystore: tenant %q has used every key version", tenant)
		}
		// Past every row, destroyed ones included: a version number is
		// never issued twice. Not below the tenant's minimum either.
		v := max(uint32(sum.maxVersion+1), s.minVersion(tenant))
		dek := newDEK()
		copies, err := s.wrapRing(ctx, tenant, v, dek)
		if err != nil {
			clear(dek)
			return 0, err
		}
		chain, err := s.auditRef(ctx)
		if err != nil {
			clear(dek)
			return 0, err
		}
		err = s.rotateTx(ctx, chain, tenant, v, copies, sum.maxVersion)
		if errors.Is(err, errRotateRace) || s.dialect.IsUniqueViolation(err) || s.dialect.IsSerializationFailure(err) {
			clear(dek)
			continue
		}
		if err != nil {
			clear(dek)
			if errors.Is(err, ErrKeyDestroyed) {
				s.cache.destroyTenant(tenant)
			}
			return 0, err
		}
		// Committed: only now may anything be sealed under the new key.
		_ = s.marks.vouch(tenant, v, dek) // v is new: no earlier key to disagree with
		k, _, err := s.cache.install(keyID{tenant, v}, dek, s.clock.precise(), s.ttl, s.grace)
		if err == nil {
			s.cache.rotated(k, s.clock.precise()+ticks(s.ttl))
		} else {
			// Closed or shredded meanwhile: the rotation stands; the
			// cache just does not keep the key.
			s.cache.forgetTenantViews(tenant)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "keystore: rotated tenant key",
			slog.String("tenant", tenant), slog.Uint64("version", uint64(v)))
		s.emit(Event{Kind: eventRotate, Tenant: tenant, Version: v})
		return v, nil
	}
	return 0, fmt.Errorf("%w: rotating tenant %q", ErrConflict, tenant)
}

// rotateTx writes the rotation, and its audit event, if the tenant's highest version is still
// wantMax once its rows are locked.
func (s *Store) rotateTx(ctx context.Context, chain chainRef, tenant string, v uint32, copies []wrapCopy, wantMax int64) (err error) {
	kekURI, wrapped := copies[0].kekURI, copies[0].wrapped
	ctx, span := s.querySpan(ctx, "rotate", tenant)
	defer func() { endSpan(span, err) }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keystore: rotate tenant %q: %w", tenant, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.lockTenant(ctx, tx, tenant); err != nil {
		return err
	}
	sum, err := s.summary(ctx, tx, tenant)
	if err != nil {
		return err
	}
	if sum.rows > 0 && sum.rows == sum.destroyed {
		return fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
	}
	if sum.maxVersion != wantMax {
		return errRotateRace
	}
	if err = s.checkOwnKEK(ctx, tx, tenant, copies); errors.Is(err, errAssignmentRace) {
		return errRotateRace // wrap again, under the tenant's own key
	} else if err != nil {
		return err
	}
	ts := s.dialect.TimeArg(s.clock.wall())
	if _, err = s.execSpan(ctx, tx, "retire_active", tenant, s.q.RetireActive, ts, tenant); err != nil {
		return fmt.Errorf("keystore: rotate tenant %q: %w", tenant, err)
	}
	if _, err = s.execSpan(ctx, tx, "insert_rotated", tenant, s.q.InsertRotated, tenant, int64(v), kekURI, wrapped, ts, ts); err != nil {
		if s.dialect.IsUniqueViolation(err) {
			return err
		}
		return fmt.Errorf("keystore: rotate tenant %q: %w", tenant, err)
	}
	if err = s.insertCopies(ctx, tx, tenant, v, copies, ts); err != nil {
		return err
	}
	if err = s.appendEvent(ctx, tx, chain, opRotate, tenant, v, kekURI); err != nil {
		return err
	}
	if err = s.commitSpan(ctx, tx, tenant); err != nil {
		return fmt.Errorf("keystore: rotate tenant %q: commit: %w", tenant, err)
	}
	return nil
}

// lockTenant runs the dialect's tenant lock as the transaction's first
// statement.
func (s *Store) lockTenant(ctx context.Context, tx *sql.Tx, tenant string) error {
	if _, err := s.execSpan(ctx, tx, "lock_tenant", tenant, s.q.LockTenant, tenant); err != nil {
		return fmt.Errorf("keystore: lock tenant %q: %w", tenant, err)
	}
	return nil
}
