package keystore

import (
	"errors"
)

// ErrVersionTooOld is returned for a key version below the tenant's
// minimum (TenantPolicy.MinVersion): it neither opens nor seals values.
var ErrVersionTooOld = errors.New("keystore: key version below the tenant's minimum")

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
