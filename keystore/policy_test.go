package keystore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestKnownTenantsOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTenantPolicy(TenantPolicy{KnownOnly: true}))

		for _, call := range []struct {
			name string
			f    func() error
		}{
			{"Active", func() error { _, err := s.active(ctxb, "mallory"); return err }},
			{"ActiveCipher", func() error { _, err := s.ActiveCipher(ctxb, "mallory", "patients", "name"); return err }},
		} {
			if err := call.f(); !errors.Is(err, ErrUnknownTenant) {
				t.Fatalf("%s(mallory) = %v, want ErrUnknownTenant", call.name, err)
			}
		}
		if w, u := drv.wraps.Load(), drv.unwraps.Load(); w != 0 || u != 0 {
			t.Fatalf("KMS calls for an unknown tenant: %d wraps, %d unwraps; want none", w, u)
		}
		if n := countRows(t, tdb, "1 = 1"); n != 0 {
			t.Fatalf("rows after refusing an unknown tenant = %d, want 0", n)
		}

		if err := s.InitTenant(ctxb, "acme"); err != nil {
			t.Fatalf("InitTenant(acme) = %v", err)
		}
		if err := s.InitTenant(ctxb, "acme"); err != nil {
			t.Fatalf("InitTenant(acme) again = %v", err)
		}
		// One wrap for the data key and one for its audit trail's chain
		// key; InitTenant makes the index key too, with its own trail's.
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 1 || drv.wraps.Load() != 4 {
			t.Fatalf("InitTenant twice: %d rows, %d wraps; want 1, 4", n, drv.wraps.Load())
		}
		if v, _ := sealVersion(t, s, "acme"); v != 1 {
			t.Fatalf("ActiveCipher(acme) after InitTenant = v%d, want v1", v)
		}
		// Another process knows the tenant from the table.
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), WithTenantPolicy(TenantPolicy{KnownOnly: true}))
		if v, _ := sealVersion(t, other, "acme"); v != 1 {
			t.Fatalf("other ActiveCipher(acme) = v%d, want v1", v)
		}
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := s.InitTenant(ctxb, "acme"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("InitTenant(shredded) = %v, want ErrKeyDestroyed", err)
		}
		if err := s.InitTenant(ctxb, ""); !errors.Is(err, ErrInvalidTenant) {
			t.Fatalf("InitTenant(\"\") = %v, want ErrInvalidTenant", err)
		}
	})
}

func TestTenantValidator(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		errNotCustomer := errors.New("not a customer")
		var calls atomic.Int64
		validate := func(ctx context.Context, tenant string) error {
			calls.Add(1)
			if !strings.HasPrefix(tenant, "cust-") {
				return errNotCustomer
			}
			return nil
		}
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTenantPolicy(TenantPolicy{Validate: validate}))

		_, err := s.active(ctxb, "evil")
		if !errors.Is(err, ErrUnknownTenant) || !errors.Is(err, errNotCustomer) {
			t.Fatalf("Active(evil) = %v, want ErrUnknownTenant wrapping the validator's error", err)
		}
		if err := s.InitTenant(ctxb, "evil"); !errors.Is(err, errNotCustomer) {
			t.Fatalf("InitTenant(evil) = %v, want the validator's error", err)
		}
		if w, u := drv.wraps.Load(), drv.unwraps.Load(); w != 0 || u != 0 || countRows(t, tdb, "1 = 1") != 0 {
			t.Fatalf("refused tenant cost %d wraps, %d unwraps, or rows; want none", w, u)
		}
		if v, _ := sealVersion(t, s, "cust-1"); v != 1 {
			t.Fatalf("ActiveCipher(cust-1) = v%d, want v1", v)
		}
		// Tenants with keys are not checked again.
		before := calls.Load()
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), WithTenantPolicy(TenantPolicy{Validate: validate}))
		if v, _ := sealVersion(t, other, "cust-1"); v != 1 {
			t.Fatalf("other ActiveCipher(cust-1) = v%d, want v1", v)
		}
		if calls.Load() != before {
			t.Fatalf("validator called for a tenant that has keys")
		}
	})
}
