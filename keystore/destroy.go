package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// ErrVersionInUse is returned by DestroyVersion for the version that
// seals the tenant's new values: its active version, or its highest live
// one. Rotate first, re-encrypt, then destroy the old version.
var ErrVersionInUse = errors.New("keystore: key version still seals new values")

// DestroyVersion destroys one retired version of the tenant's key: its
// wrapped key is erased (NULL), its copies under the keyring's further
// master keys are deleted, and its state becomes destroyed, in one
// transaction that locks the tenant's rows and updates the row only if
// it is still retired. This process drops and zeroes the key at once, and
// the values sealed under it fail with ErrKeyDestroyed from then on;
// other processes see it when their cached copy expires (the TTL). Other
// versions are untouched.
//
// It refuses, with ErrVersionInUse, the version new values are sealed
// under (the highest live one, and any row marked active). Destroying a
// destroyed version does nothing; a version the table does not hold fails
// with ErrKeyNotFound, and a shredded tenant with ErrKeyDestroyed.
//
// Use it after migrate reencrypt has moved every value off the version,
// to end the use of an old key (one that may have been exposed) without
// shredding the tenant. Like Shred, it does not reach database backups.
func (s *Store) DestroyVersion(ctx context.Context, tenant string, version uint32) (err error) {
	if err := s.errIfClosed(); err != nil {
		return err
	}
	if err := validTenant(tenant); err != nil {
		return err
	}
	if version == 0 {
		return fmt.Errorf("%w: tenant %q version 0", ErrKeyNotFound, tenant)
	}
	chain, err := s.auditRef(ctx)
	if err != nil {
		return err
	}
	ctx, span := s.querySpan(ctx, "destroy_version", tenant)
	defer func() { endSpan(span, err) }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keystore: destroy tenant %q version %d: %w", tenant, version, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.lockTenantRead(ctx, tx, tenant); err != nil {
		return err
	}
	t, err := s.readTenant(ctx, tx, tenant)
	if err != nil {
		return err
	}
	var (
		state rowState
		uri   string
	)
	switch {
	case t.top == nil && t.destroyed > 0:
		return fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
	case version > t.max:
		return s.missing(tenant, version)
	case version == t.top.version:
		return fmt.Errorf("%w: tenant %q version %d is its highest live version", ErrVersionInUse, tenant, version)
	}
	if state, uri, err = s.stateOf(ctx, tx, tenant, version); err != nil {
		return err
	}
	switch state {
	case "":
		return s.missing(tenant, version)
	case stateDestroyed:
		// Copies an older release's DestroyVersion left behind go now.
		if _, err = s.execSpan(ctx, tx, "destroy_copies", tenant, s.rq.DeleteVersion, tenant, int64(version)); err != nil {
			return fmt.Errorf("keystore: destroy tenant %q version %d: %w", tenant, version, err)
		}
		err = s.commitSpan(ctx, tx, tenant)
		s.forgetVersion(tenant, version)
		return err
	case stateActive:
		return fmt.Errorf("%w: tenant %q version %d is marked active", ErrVersionInUse, tenant, version)
	}
	res, err := s.execSpan(ctx, tx, "destroy_one", tenant, s.q.DestroyOne, s.dialect.TimeArg(s.clock.wall()), tenant, int64(version))
	if err != nil {
		return fmt.Errorf("keystore: destroy tenant %q version %d: %w", tenant, version, err)
	}
	if n, rerr := res.RowsAffected(); rerr != nil || n != 1 {
		err = fmt.Errorf("%w: destroying tenant %q version %d", ErrConflict, tenant, version)
		return err
	}
	if _, err = s.execSpan(ctx, tx, "destroy_copies", tenant, s.rq.DeleteVersion, tenant, int64(version)); err != nil {
		return fmt.Errorf("keystore: destroy tenant %q version %d: %w", tenant, version, err)
	}
	if err = s.appendEvent(ctx, tx, chain, opDestroyVersion, tenant, version, uri); err != nil {
		return err
	}
	if err = s.commitSpan(ctx, tx, tenant); err != nil {
		return fmt.Errorf("keystore: destroy tenant %q version %d: commit: %w", tenant, version, err)
	}
	s.forgetVersion(tenant, version)
	s.log.LogAttrs(ctx, slog.LevelInfo, "keystore: destroyed a tenant key version",
		slog.String("tenant", tenant), slog.Uint64("version", uint64(version)))
	s.emit(Event{Kind: eventDestroyVersion, Tenant: tenant, Version: version})
	return nil
}

// lockTenantRead runs the dialect's tenant lock as a query whose rows
// are read and closed. (Run through Exec, MySQL's locking SELECT over a
// tenant with no rows left the go-sql-driver connection waiting for rows
// the server never sent.)
func (s *Store) lockTenantRead(ctx context.Context, tx *sql.Tx, tenant string) (err error) {
	ctx, span := s.querySpan(ctx, "lock_tenant", tenant)
	defer func() { endSpan(span, err) }()
	if err := s.runLock(ctx, tx, s.q.LockTenant, tenant); err != nil {
		return fmt.Errorf("keystore: lock tenant %q: %w", tenant, err)
	}
	return nil
}

// runLock runs a lock statement of the dialect: on SQLite a write that
// changes nothing, elsewhere a locking read whose rows are read and
// closed.
func (s *Store) runLock(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	if s.dialect == sqldialect.SQLite {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	err = rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// stateOf returns the state and master key name of one version's row,
// "" if there is none.
func (s *Store) stateOf(ctx context.Context, q querier, tenant string, version uint32) (rowState, string, error) {
	var st string
	var wrapped []byte
	var uri string
	qctx, span := s.querySpan(ctx, "select_key", tenant)
	err := q.QueryRowContext(qctx, s.q.SelectKey, tenant, int64(version)).Scan(&st, &uri, &wrapped)
	endSpan(span, spanErr(err))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("keystore: read key of tenant %q version %d: %w", tenant, version, err)
	}
	clear(wrapped)
	state, ok := parseState(st)
	if !ok {
		return "", "", corruptRow(tenant, int64(version), "unknown state")
	}
	return state, uri, nil
}

// forgetVersion makes this process refuse a destroyed version: it is
// remembered as destroyed, so a load that read the row before cannot
// cache it again, and its cached key is zeroed and dropped from the
// cache and the cipher indexes. The tenant's active and live records are
// dropped too, so the next Active and liveKeys read the table.
func (s *Store) forgetVersion(tenant string, version uint32) {
	s.marks.destroy(tenant, version)
	s.cache.remove(keyID{tenant, version}, ErrKeyDestroyed)
	s.cache.forgetTenantViews(tenant)
}
