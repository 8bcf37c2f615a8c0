package keystore

import (
	"errors"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
)

// TestSetTenantMasterKey: a tenant given its own master key has every key
// rewrapped under it alone (no keyring copy left), new versions use it,
// AddMasterKey leaves it alone, and revoking it cuts the tenant off while
// other tenants keep their keyring.
func TestSetTenantMasterKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		c := newInsecureTestKMS(t)
		kc := c.keeper("test://kek-acme")
		s := r.store(t, tdb, WithMasterKeys(kc))
		for _, name := range []string{"acme", "globex"} {
			if _, err := s.Active(ctxb, name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		k1, err := s.lookupKey(ctxb, "acme", 1)
		if err != nil {
			t.Fatal(err)
		}
		other := newInsecureTestKMS(t).keeper("test://kek-unconfigured")
		if _, err := s.SetTenantMasterKey(ctxb, "acme", other); !errors.Is(err, ErrUnknownMasterKey) {
			t.Fatalf("SetTenantMasterKey(unconfigured key) = %v, want ErrUnknownMasterKey", err)
		}
		res, err := s.SetTenantMasterKey(ctxb, "acme", kc)
		if err != nil || res.Rewrapped != 2 {
			t.Fatalf("SetTenantMasterKey() = %+v, %v; want 2 rewrapped", res, err)
		}
		if res, err := s.SetTenantMasterKey(ctxb, "acme", kc); err != nil || res.Skipped != 2 {
			t.Fatalf("SetTenantMasterKey() again = %+v, %v; want 2 skipped", res, err)
		}
		wantCopies(t, s, "acme", 1, "test://kek-acme")
		wantCopies(t, s, "acme", 2, "test://kek-acme")
		if n := copiesOf(t, tdb, "acme"); n != 0 {
			t.Fatalf("%d keyring copies left for a tenant with its own key, want 0", n)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		wantCopies(t, s, "acme", 3, "test://kek-acme")
		d := newInsecureTestKMS(t)
		if res, err := s.AddMasterKey(ctxb, d.keeper("test://kek-d")); err != nil || res.Added != 1 || res.Skipped != 3 {
			t.Fatalf("AddMasterKey() = %+v, %v; want globex's 1 added, acme's 3 skipped", res, err)
		}
		wantCopies(t, s, "acme", 3, "test://kek-acme")

		// The key itself did not change.
		fresh := r.store(t, tdb, WithMasterKeys(kc))
		k1b, err := fresh.lookupKey(ctxb, "acme", 1)
		if err != nil {
			t.Fatal(err)
		}
		sealOpen(t, k1, k1b)

		// The customer revokes its key: acme is unreadable, globex is not.
		c.setDown(errTestDenied)
		cut := r.store(t, tdb, WithMasterKeys(kc))
		if _, err := cut.lookupKey(ctxb, "acme", 1); err == nil {
			t.Fatal("Key(acme) opened with the tenant's own master key revoked")
		}
		if _, err := cut.lookupKey(ctxb, "globex", 1); err != nil {
			t.Fatalf("Key(globex) = %v", err)
		}
	})
}

// TestSetTenantMasterKeyIndexKeys: a tenant's own master key also wraps
// its index keys, old and new, so revoking it cuts the tenant's blind
// indexes off too (an index key lets whoever holds it test guesses
// against the stored indexes).
func TestSetTenantMasterKeyIndexKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		c := newInsecureTestKMS(t)
		kc := c.keeper("test://kek-acme-idx")
		s := r.store(t, tdb, WithMasterKeys(kc))
		if _, err := s.ActiveIndexer(ctxb, "acme", "users", "email", "email"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetTenantMasterKey(ctxb, "acme", kc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RotateIndexKey(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		wantCopies(t, s.index, "acme", 1, "test://kek-acme-idx")
		wantCopies(t, s.index, "acme", 2, "test://kek-acme-idx")

		c.setDown(errTestDenied)
		cut := r.store(t, tdb, WithMasterKeys(kc))
		if _, err := cut.LiveIndexers(ctxb, "acme", "users", "email", "email"); err == nil {
			t.Fatal("LiveIndexers(acme) opened with the tenant's own master key revoked")
		}
	})
}

// TestKeyringShredDeletesIndexKeyCopies: Shred deletes the keyring copies
// of the tenant's index keys too, and no other tenant's.
func TestKeyringShredDeletesIndexKeyCopies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		s := r.store(t, tdb)
		for _, name := range []string{"acme", "globex"} {
			if _, err := s.ActiveIndexer(ctxb, name, "users", "email", "email"); err != nil {
				t.Fatal(err)
			}
		}
		count := func(tenant string) int {
			var n int
			if err := tdb.db.QueryRow(tdb.q(`SELECT COUNT(*) FROM {keys}_index_keys_wraps WHERE tenant_id = ?`), tenant).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("acme"); n != 1 {
			t.Fatalf("index key copies of acme = %d, want 1", n)
		}
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if n := count("acme"); n != 0 {
			t.Fatalf("index key copies of a shredded tenant = %d, want 0", n)
		}
		if n := count("globex"); n != 1 {
			t.Fatalf("index key copies of another tenant = %d after a shred, want 1", n)
		}
		for _, kp := range []*kms.Keeper{r.ka, r.kb} {
			other := newTestStore(t, tdb, tdb.db, kp)
			if _, err := other.LiveIndexers(ctxb, "acme", "users", "email", "email"); !errors.Is(err, ErrKeyDestroyed) {
				t.Fatalf("LiveIndexers(shredded) = %v, want ErrKeyDestroyed", err)
			}
		}
	})
}

// TestForgedTenantMasterKeyRow: a tenant master key row written by
// whoever can write the database, naming a master key this Store did not
// configure, never makes it call a KMS: the tenant's new keys fail with
// ErrUnknownMasterKey, its existing keys still open from their copies.
func TestForgedTenantMasterKeyRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		s := r.store(t, tdb)
		if _, err := s.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"{keys}_tenant_keks", "{keys}_index_keys_tenant_keks"} {
			if _, err := tdb.db.Exec(tdb.q(`INSERT INTO `+table+` (tenant_id, kek_uri, updated_at) VALUES (?, 'test://attacker', ?)`), "acme", "2026-01-01 00:00:00"); err != nil {
				t.Fatal(err)
			}
		}
		wa, wb := r.a.wraps.Load(), r.b.wraps.Load()
		fresh := r.store(t, tdb)
		if _, err := fresh.Rotate(ctxb, "acme"); !errors.Is(err, ErrUnknownMasterKey) {
			t.Fatalf("Rotate() under a forged master key row = %v, want ErrUnknownMasterKey", err)
		}
		if _, err := fresh.ActiveIndexer(ctxb, "acme", "users", "email", "email"); !errors.Is(err, ErrUnknownMasterKey) {
			t.Fatalf("ActiveIndexer() under a forged master key row = %v, want ErrUnknownMasterKey", err)
		}
		if r.a.wraps.Load() != wa || r.b.wraps.Load() != wb {
			t.Fatal("a master key was called to wrap under a forged assignment")
		}
		if _, err := fresh.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatalf("Key(acme, 1) = %v", err)
		}
	})
}
