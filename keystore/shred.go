package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
)

// Shred destroys every version of the tenant's key: each row's state
// becomes destroyed and its wrapped key is erased (NULL), every copy under
// the keyring's further master keys is deleted (see WithKeyring), and this
// process zeroes the keys it cached. From then on Key, Active and
// liveKeys fail with ErrKeyDestroyed for the tenant, in this process at
// once and in others within their cache TTL (the stale grace does not
// extend this: every refresh reads the table). The tenant's values can no
// longer be opened by anyone who does not already hold the key.
//
// The tenant stays in the table as a tombstone, so Active never creates a
// new key for it. Shredding a shredded tenant does nothing; shredding a
// tenant with no keys fails with ErrKeyNotFound.
//
// Backups of the database taken before Shred still hold the wrapped keys,
// which the master key can unwrap. For erasure that survives backups,
// give each tenant its own master key (a KEK URI with the tenant in it)
// and destroy that key in the KMS as well.
//
// Shred destroys the tenant's index keys (see RotateIndexKey) the same
// way, after its data keys: a failure there returns an error once the
// data keys are destroyed, and running Shred again finishes the job.
func (s *Store) Shred(ctx context.Context, tenant string) error {
	err := s.shredFamily(ctx, tenant)
	if s.index == nil || (err != nil && !errors.Is(err, ErrKeyNotFound)) {
		return err
	}
	ierr := s.index.shredFamily(ctx, tenant)
	switch {
	case ierr == nil:
		return nil // a tenant with index keys but no data key had keys all the same
	case errors.Is(ierr, ErrKeyNotFound):
		return err
	default:
		return indexErr(ierr)
	}
}

// shredFamily is Shred within one key family.
func (s *Store) shredFamily(ctx context.Context, tenant string) (err error) {
	if err := s.errIfClosed(); err != nil {
		return err
	}
	if err := validTenant(tenant); err != nil {
		return err
	}
	chain, err := s.auditRef(ctx)
	if err != nil {
		return err
	}
	qctx, span := s.querySpan(ctx, "shred", tenant)
	n, err := s.shredTx(qctx, chain, tenant)
	endSpan(span, err)
	if err != nil {
		return fmt.Errorf("keystore: shred tenant %q: %w", tenant, err)
	}
	if n == 0 {
		sum, err := s.summary(ctx, s.db, tenant)
		if err != nil {
			return err
		}
		if sum.rows == 0 {
			return fmt.Errorf("%w: tenant %q", ErrKeyNotFound, tenant)
		}
	}
	s.cache.destroyTenant(tenant)
	s.log.LogAttrs(ctx, slog.LevelInfo, "keystore: shredded tenant keys",
		slog.String("tenant", tenant), slog.Int64("versions", n))
	s.emit(Event{Kind: eventShred, Tenant: tenant})
	return nil
}

// shredTx destroys the tenant's live rows and, if there were any, appends
// the shred's audit event in the same transaction. It returns how many
// rows it destroyed.
func (s *Store) shredTx(ctx context.Context, chain chainRef, tenant string) (n int64, err error) {
	var tx *sql.Tx
	if tx, err = s.db.BeginTx(ctx, nil); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	res, err := s.execSpan(ctx, tx, "destroy_all", tenant, s.q.Shred, s.dialect.TimeArg(s.clock.wall()), tenant)
	if err != nil {
		return 0, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, err
	}
	// Every copy goes with the rows, also those an older release's shred
	// left behind.
	if _, err = s.execSpan(ctx, tx, "destroy_copies", tenant, s.rq.DeleteTenant, tenant); err != nil {
		return 0, err
	}
	if n > 0 {
		if err = s.appendEvent(ctx, tx, chain, opShred, tenant, 0, ""); err != nil {
			return 0, err
		}
	}
	return n, s.commitSpan(ctx, tx, tenant)
}
