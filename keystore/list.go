package keystore

import (
	"context"
	"fmt"
	"time"
)

// KeyInfo describes one row of the key table. It holds no key bytes,
// wrapped or not.
type KeyInfo struct {
	Tenant  string
	Version uint32
	// State is "active" (the one version that seals new values),
	// "retired" (opens values, seals none) or "destroyed" (shredded: the
	// wrapped key is erased).
	State     string
	KEKURI    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// List describes the keys of one tenant, or of every tenant when tenant
// is "", ordered by tenant and version. Shredded versions are included.
func (s *Store) List(ctx context.Context, tenant string) ([]KeyInfo, error) {
	if err := s.errIfClosed(); err != nil {
		return nil, err
	}
	query, args := s.q.ListAll, []any(nil)
	if tenant != "" {
		if err := validTenant(tenant); err != nil {
			return nil, err
		}
		query, args = s.q.ListTenant, []any{tenant}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("keystore: list keys: %w", err)
	}
	defer rows.Close()
	var out []KeyInfo
	for rows.Next() {
		var (
			ki    KeyInfo
			v     int64
			state string
		)
		if err := rows.Scan(&ki.Tenant, &v, &state, &ki.KEKURI, timeCol{&ki.CreatedAt}, timeCol{&ki.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("keystore: list keys: %w", err)
		}
		if ki.Version, err = checkVersion(ki.Tenant, v); err != nil {
			return nil, err
		}
		st, ok := parseState(state)
		if !ok {
			return nil, corruptRow(ki.Tenant, v, "unknown state")
		}
		ki.State = string(st)
		out = append(out, ki)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keystore: list keys: %w", err)
	}
	return out, nil
}

// Tenants lists every tenant with a row in the key table, shredded ones
// included, sorted.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	if err := s.errIfClosed(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q.Tenants)
	if err != nil {
		return nil, fmt.Errorf("keystore: list tenants: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("keystore: list tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keystore: list tenants: %w", err)
	}
	return out, nil
}
