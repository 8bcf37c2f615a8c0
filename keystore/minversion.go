package keystore

import (
	"errors"
)

// ErrVersionTooOld is returned for a key version below the tenant's
// minimum (WithMinVersion): it neither opens nor seals values.
var ErrVersionTooOld = errors.New("keystore: key version below the tenant's minimum")

// WithMinVersion sets each tenant's minimum key version: versions below
// min(tenant) neither open nor seal values (an [Error] of kind ErrVersionTooOld), whatever
// the key table says of them, and Rotate (or a tenant's first key) never
// issues a version below it. A minimum of 0 or 1 allows every version.
//
// The minimum is the application's configuration, not a column of the
// key table, on purpose: someone who can write the table could lower a
// stored minimum as easily as flip a state, while a configured one holds
// against the table, and no schema change is needed (existing key tables
// keep working unchanged). Raise a tenant's minimum after re-encrypting
// its values under newer versions (migrate reencrypt) to make sure old,
// possibly exposed, versions are never used again.
//
// min is called when a key is loaded into the cache (each cache miss, so
// at least once per TTL for a key in use) and for the versions liveKeys
// returns, not on each sealed or opened value: a raised minimum is
// honoured by keys already cached once their TTL passes, or at once
// after a restart. It must be fast and must not call the Store.
func WithMinVersion(min func(tenant string) uint32) Option {
	return func(c *config) { c.policy.minVersion = min }
}

// minVersion returns the tenant's minimum version, at least 1.
func (s *Store) minVersion(tenant string) uint32 {
	if s.policy.minVersion == nil {
		return 1
	}
	return max(s.policy.minVersion(tenant), 1)
}

// checkMin refuses a version below the tenant's minimum.
func (s *Store) checkMin(tenant string, version uint32) error {
	if s.policy.minVersion == nil {
		return nil
	}
	if m := s.minVersion(tenant); version < m {
		return &Error{Kind: ErrVersionTooOld, Tenant: tenant, Version: version, Min: m}
	}
	return nil
}
