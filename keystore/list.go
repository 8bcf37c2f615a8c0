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
	State string
	// KEKURI names the master key of the key row's own copy.
	KEKURI string
	// Copies names the master key of every wrapped copy the key has:
	// the row's own first (KEKURI), then those in the copies table (see
	// WithKeyring), sorted. Empty for a destroyed version.
	Copies    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// List describes the keys of one tenant, or of every tenant when tenant
// is "", ordered by tenant and version, with the master keys holding a
// copy of each. Shredded versions are included.
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
	rows.Close()
	if err := s.listCopies(ctx, tenant, out); err != nil {
		return nil, err
	}
	return out, nil
}

// listCopies fills the Copies of keys, which List read in (tenant,
// version) order, from the key rows and the copies table.
func (s *Store) listCopies(ctx context.Context, tenant string, keys []KeyInfo) error {
	type id struct {
		tenant  string
		version uint32
	}
	at := make(map[id]int, len(keys))
	for i := range keys {
		if keys[i].State != string(stateDestroyed) {
			keys[i].Copies = []string{keys[i].KEKURI}
		}
		at[id{keys[i].Tenant, keys[i].Version}] = i
	}
	query, args := s.rq.ListAll, []any(nil)
	if tenant != "" {
		query, args = s.rq.ListTenant, []any{tenant}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("keystore: list key copies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k   id
			v   int64
			uri string
		)
		if tenant != "" {
			k.tenant = tenant
			err = rows.Scan(&v, &uri)
		} else {
			err = rows.Scan(&k.tenant, &v, &uri)
		}
		if err != nil {
			return fmt.Errorf("keystore: list key copies: %w", err)
		}
		if v < 1 || v > 1<<32-1 {
			continue // not a key version: no row of List's to attach it to
		}
		k.version = uint32(v)
		if i, ok := at[k]; ok && keys[i].State != string(stateDestroyed) {
			keys[i].Copies = append(keys[i].Copies, uri)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("keystore: list key copies: %w", err)
	}
	return nil
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
