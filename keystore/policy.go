package keystore

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnknownTenant is returned by Active for a tenant that has no key yet
// when the Store may not create one: under WithKnownTenantsOnly, or when
// the WithTenantValidator hook refused the tenant. No KMS call was made
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

// WithKnownTenantsOnly makes Active create keys only for tenants that
// already have rows in the key table, put there by [Store.InitTenant]
// (or "colcrypt keys init --tenant"). Any other tenant fails with
// ErrUnknownTenant, without a KMS call or a write.
//
// By default a tenant's first Active creates its key: convenient, and
// compatible with earlier releases, but then every string that reaches
// Active becomes a tenant with a KMS-wrapped key, so a tenant id taken
// from a request is a lever on KMS cost and on the key table's size.
// Applications whose tenant ids come from requests should set this
// option (or WithTenantValidator).
func WithKnownTenantsOnly() Option { return func(c *config) { c.policy.knownOnly = true } }

// WithTenantValidator sets a hook consulted before the first key of a
// tenant is created (by Active or InitTenant): a non-nil error refuses
// the tenant, and Active fails with ErrUnknownTenant wrapping it, before
// any KMS call or write. Tenants that already have keys are not checked
// again. The hook runs once per creation attempt, inside the Store's
// load; it must not call the Store.
func WithTenantValidator(f func(ctx context.Context, tenant string) error) Option {
	return func(c *config) { c.policy.validate = f }
}

// InitTenant creates the tenant's first key unless it has one: the
// explicit way to make a tenant known under WithKnownTenantsOnly. It
// consults the WithTenantValidator hook like Active. Running it again for
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
	return err
}

// mayCreate says whether the tenant, which has no row in the key table,
// may get its first key; explicit is true for InitTenant.
func (s *Store) mayCreate(ctx context.Context, tenant string, explicit bool) error {
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
