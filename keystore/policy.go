package keystore

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnknownTenant is returned by Active for a tenant that has no key yet
// when the Store may not create one: under TenantPolicy.KnownOnly, or when
// the TenantPolicy.Validate hook refused the tenant. No KMS call was made
// and nothing was written.
var ErrUnknownTenant = errors.New("keystore: unknown tenant")

// statePolicy is what the application, not the key table, decides about
// tenants and versions: the table is data an attacker may write, so
// whatever bounds it must come from the Store's own configuration.
type statePolicy struct {
	knownOnly  bool
	validate   func(ctx context.Context, tenant string) error
	minVersion func(tenant string) uint32
}

// TenantPolicy is what the application, not the key table, decides
// about tenants, for [WithTenantPolicy]. The table is data an attacker may
// write, so whatever bounds it comes from here.
type TenantPolicy struct {
	// KnownOnly makes Active (and the ciphers that seal) create keys only
	// for tenants that already have rows in the key table, put there by
	// [Store.InitTenant] (or "colcrypt keys init --tenant"). Any other
	// tenant fails with ErrUnknownTenant, without a KMS call or a write.
	//
	// By default a tenant's first Active creates its key: convenient, and
	// compatible with earlier releases, but then every string that
	// reaches Active becomes a tenant with a KMS-wrapped key, so a tenant
	// id taken from a request is a lever on KMS cost and on the key
	// table's size. Applications whose tenant ids come from requests
	// should set KnownOnly (or Validate).
	KnownOnly bool
	// Validate is consulted before the first key of a tenant is created
	// (by Active or InitTenant): a non-nil error refuses the tenant, and
	// Active fails with ErrUnknownTenant wrapping it, before any KMS call
	// or write. Tenants that already have keys are not checked again. It
	// runs once per creation attempt, inside the Store's load; it must not
	// call the Store.
	Validate func(ctx context.Context, tenant string) error
	// MinVersion is each tenant's minimum key version: versions below
	// MinVersion(tenant) neither open nor seal values (an [Error] of kind
	// ErrVersionTooOld), whatever the key table says of them, and Rotate
	// (or a tenant's first key) never issues a version below it. A minimum
	// of 0 or 1 allows every version.
	//
	// The minimum is the application's configuration, not a column of
	// the key table, on purpose: someone who can write the table could
	// lower a stored minimum as easily as flip a state, while a configured
	// one holds against the table, and no schema change is needed. Raise a
	// tenant's minimum after re-encrypting its values under newer versions
	// (migrate reencrypt) to make sure old, possibly exposed, versions are
	// never used again.
	//
	// It is called when a key is loaded into the cache (each cache miss,
	// so at least once per CacheTTL for a key in use), not on each sealed
	// or opened value: a raised minimum is honoured by keys already cached
	// once their TTL passes, or at once after a restart. It must be fast
	// and must not call the Store.
	MinVersion func(tenant string) uint32
	// KEK gives tenants master keys of their own: the new keys of tenant t
	// (its first key and each rotation) are wrapped under the master key
	// named by KEK(t), which must be a configured one (given to New or
	// WithMasterKeys; else the key is not created and ErrUnknownMasterKey
	// is returned); where KEK returns "", under the keeper given to New.
	// With a master key per tenant, destroying that key in the KMS makes a
	// shred hold even for database backups that still contain the wrapped
	// keys. KEK must not depend on anything but the tenant, and the URI it
	// returns is stored in the key table, so it must hold no secret.
	KEK func(tenant string) string
}

// WithTenantPolicy sets the tenant rules that p sets (its non-zero
// fields).
func WithTenantPolicy(p TenantPolicy) Option {
	return func(c *config) {
		c.policy.knownOnly = c.policy.knownOnly || p.KnownOnly
		if p.Validate != nil {
			c.policy.validate = p.Validate
		}
		if p.MinVersion != nil {
			c.policy.minVersion = p.MinVersion
		}
		if p.KEK != nil {
			c.tenantKEK = p.KEK
		}
	}
}

// InitTenant creates the tenant's first key unless it has one: the
// explicit way to make a tenant known under TenantPolicy.KnownOnly. It
// consults the TenantPolicy.Validate hook like Active. Running it again for
// a tenant with keys does nothing; for a shredded tenant it fails with
// ErrKeyDestroyed.
func (s *Store) InitTenant(ctx context.Context, tenant string) error {
	if err := s.errIfClosed(); err != nil {
		return err
	}
	if err := validTenant(tenant); err != nil {
		return err
	}
	if s.cache.isDestroyed(tenant) {
		return fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
	}
	_, err := s.flights.do(ctx, flightKey{kind: flightInit, tenant: tenant}, func(ctx context.Context) (flightResult, error) {
		return s.loadActive(ctx, tenant, true)
	})
	if err != nil && ctx.Err() != nil && err == ctx.Err() {
		return fmt.Errorf("keystore: init tenant %q: %w", tenant, err)
	}
	if err == nil && s.index != nil {
		// The tenant's index key too, so that a first write needs no key
		// table write of its own (on SQLite, inside a transaction that
		// holds the write lock, it could not make one).
		err = indexErr(s.index.InitTenant(ctx, tenant))
	}
	return err
}

// mayCreate says whether the tenant, which has no row in the key table,
// may get its first key; explicit is true for InitTenant.
func (s *Store) mayCreate(ctx context.Context, tenant string, explicit bool) error {
	if s.parent != nil {
		return s.parent.mayCreateIndexKey(ctx, tenant)
	}
	if s.policy.knownOnly && !explicit {
		return fmt.Errorf("%w: tenant %q has no key and keys are created only by InitTenant", ErrUnknownTenant, tenant)
	}
	if s.policy.validate != nil {
		if err := s.policy.validate(ctx, tenant); err != nil {
			return fmt.Errorf("%w: tenant %q: %w", ErrUnknownTenant, tenant, err)
		}
	}
	return nil
}
