package keystore

import (
	"errors"
	"testing"
)

// TestTenantKEK: with TenantPolicy.KEK each tenant's keys are wrapped under
// its own master key; destroying that master key ends access to the
// tenant's keys, including copies of its rows in a backup, and no other's.
func TestTenantKEK(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		shared, acmeKMS := newInsecureTestKMS(t), newInsecureTestKMS(t)
		acmeKEK := acmeKMS.keeper("test://tenant/acme")
		opts := []Option{
			WithMasterKeys(acmeKEK),
			WithTenantPolicy(TenantPolicy{KEK: func(tenant string) string {
				if tenant == "acme" {
					return "test://tenant/acme"
				}
				return "" // the shared key
			}}),
		}
		s := newTestStore(t, tdb, tdb.db, shared.keeper(testKEK), opts...)
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.active(ctxb, "globex"); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			tenant  string
			version uint32
			kek     string
		}{{"acme", 1, "test://tenant/acme"}, {"acme", 2, "test://tenant/acme"}, {"globex", 1, testKEK}} {
			if got := readRaw(t, tdb, r.tenant, r.version); got.kekURI != r.kek {
				t.Errorf("kek_uri of (%s, %d) = %s, want %s", r.tenant, r.version, got.kekURI, r.kek)
			}
		}
		// The shared key also wraps the audit trail's chain key.
		if acmeKMS.wraps.Load() != 2 || shared.wraps.Load() != 2 {
			t.Fatalf("wraps = %d by acme's key, %d by the shared one; want 2, 2", acmeKMS.wraps.Load(), shared.wraps.Load())
		}

		// The tenant's master key is destroyed in the KMS: a process
		// restored from a backup cannot unwrap acme's keys, only others'.
		acmeKMS.setDown(errTestDenied)
		restored := newTestStore(t, tdb, tdb.open(t), shared.keeper(testKEK), opts...)
		if _, err := restored.lookupKey(ctxb, "acme", 1); !errors.Is(err, errTestDenied) {
			t.Fatalf("Key(acme, 1) with acme's master key destroyed = %v, want the KMS refusal", err)
		}
		if _, err := restored.active(ctxb, "globex"); err != nil {
			t.Fatalf("Active(globex) = %v", err)
		}
	})
}
