package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// keyRow is the part of a row needed to unwrap its key.
type keyRow struct {
	version uint32
	state   rowState
	kekURI  string
	wrapped []byte
	// copies are every wrapped copy of a live key, the row's own first,
	// when haveCopies (readCopies read them); otherwise only the row's
	// own is known.
	copies     []wrapCopy
	haveCopies bool
}

// readActive reads the tenant's active row.
func (s *Store) readActive(ctx context.Context, tenant string) (keyRow, bool, error) {
	var (
		v   int64
		row = keyRow{state: stateActive}
	)
	qctx, span := s.querySpan(ctx, "select_active", tenant)
	err := s.db.QueryRowContext(qctx, s.q.SelectActive, tenant).Scan(&v, &row.kekURI, &row.wrapped)
	endSpan(span, spanErr(err))
	if errors.Is(err, sql.ErrNoRows) {
		return keyRow{}, false, nil
	}
	if err != nil {
		return keyRow{}, false, fmt.Errorf("keystore: read active key of tenant %q: %w", tenant, err)
	}
	if row.version, err = checkVersion(tenant, v); err != nil {
		return keyRow{}, false, err
	}
	if len(row.wrapped) == 0 {
		return keyRow{}, false, corruptRow(tenant, v, "active key without wrapped_dek")
	}
	return row, true, nil
}

// readKey reads one version's row and its copies.
func (s *Store) readKey(ctx context.Context, tenant string, version uint32) (keyRow, bool, error) {
	return s.readCopies(ctx, s.db, tenant, version)
}

// tenantSummary is what get-or-create and Rotate need to know of a
// tenant's rows.
type tenantSummary struct {
	maxVersion int64
	rows       int64
	destroyed  int64
}

func (s *Store) summary(ctx context.Context, q querier, tenant string) (tenantSummary, error) {
	var t tenantSummary
	qctx, span := s.querySpan(ctx, "summary", tenant)
	err := q.QueryRowContext(qctx, s.q.Summary, tenant).Scan(&t.maxVersion, &t.rows, &t.destroyed)
	endSpan(span, err)
	if err != nil {
		return t, fmt.Errorf("keystore: read keys of tenant %q: %w", tenant, err)
	}
	if t.maxVersion < 0 || t.maxVersion > 1<<32-1 {
		return t, corruptRow(tenant, t.maxVersion, "version out of range")
	}
	return t, nil
}

// liveVersions lists the tenant's active and retired versions, newest
// first.
func (s *Store) liveVersions(ctx context.Context, tenant string) (_ []uint32, err error) {
	ctx, span := s.querySpan(ctx, "live_versions", tenant)
	defer func() { endSpan(span, err) }()
	rows, err := s.db.QueryContext(ctx, s.q.LiveVersions, tenant)
	if err != nil {
		return nil, fmt.Errorf("keystore: list keys of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("keystore: list keys of tenant %q: %w", tenant, err)
		}
		u, err := checkVersion(tenant, v)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keystore: list keys of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// tenantRows is what the key table shows of one tenant: enough to choose
// the version that seals, without trusting the state column to name it.
type tenantRows struct {
	max       uint32   // highest version of any row, destroyed ones included
	top       *keyRow  // the highest live (active or retired) row; nil if none
	actives   []uint32 // versions whose state is active, newest first
	live      int
	destroyed int
}

// readTenant reads every row of the tenant, newest first. Only the
// highest live row's wrapped key is kept.
func (s *Store) readTenant(ctx context.Context, q querier, tenant string) (_ tenantRows, err error) {
	ctx, span := s.querySpan(ctx, "tenant_rows", tenant)
	defer func() { endSpan(span, err) }()
	var t tenantRows
	rows, err := q.QueryContext(ctx, s.q.TenantRows, tenant)
	if err != nil {
		return t, fmt.Errorf("keystore: read keys of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v       int64
			st, uri string
			wrapped []byte
		)
		if err := rows.Scan(&v, &st, &uri, &wrapped); err != nil {
			return t, fmt.Errorf("keystore: read keys of tenant %q: %w", tenant, err)
		}
		u, err := checkVersion(tenant, v)
		if err != nil {
			return t, err
		}
		state, ok := parseState(st)
		if !ok {
			return t, corruptRow(tenant, v, "unknown state")
		}
		t.max = max(t.max, u)
		if state == stateDestroyed {
			t.destroyed++
			continue
		}
		if len(wrapped) == 0 {
			return t, corruptRow(tenant, v, "live key without wrapped_dek")
		}
		t.live++
		if state == stateActive {
			t.actives = append(t.actives, u)
		}
		if t.top == nil {
			t.top = &keyRow{version: u, state: state, kekURI: uri, wrapped: wrapped}
		}
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("keystore: read keys of tenant %q: %w", tenant, err)
	}
	return t, nil
}

// spanErr is err as a span should see it: a query that found no row did
// not fail.
func spanErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}
