package keystore

import (
	"context"
	"fmt"
	"log/slog"
)

// Shred destroys every version of the tenant's key: each row's state
// becomes destroyed and its wrapped key is erased (NULL), and this
// process zeroes the keys it cached. From then on Key, Active and
// LiveKeys fail with ErrKeyDestroyed for the tenant, in this process at
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
func (s *Store) Shred(ctx context.Context, tenant string) error {
	if err := s.errIfClosed(); err != nil {
		return err
	}
	if err := validTenant(tenant); err != nil {
		return err
	}
	qctx, span := s.querySpan(ctx, "shred", tenant)
	res, err := s.db.ExecContext(qctx, s.q.shred, s.dialect.timeArg(s.clock.wall()), tenant)
	endSpan(span, err)
	if err != nil {
		return fmt.Errorf("keystore: shred tenant %q: %w", tenant, err)
	}
	n, err := res.RowsAffected()
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
	s.emit(Event{Kind: EventShred, Tenant: tenant})
	return nil
}
