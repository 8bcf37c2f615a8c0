package keystore

import (
	"errors"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// TestTenantMasterKeyAssignmentForged: a writer of the database who points
// a tenant's master key assignment at another configured master key — by
// name, by copying another tenant's assignment, or without a proof — gets
// the tenant's key creation refused (ErrCorruptRow, nothing written), not
// its new keys wrapped under the key it chose; the genuine assignment,
// put back, works again.
func TestTenantMasterKeyAssignmentForged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		ka := newInsecureTestKMS(t).keeper("test://kek-acme")
		kg := newInsecureTestKMS(t).keeper("test://kek-globex")
		s := r.store(t, tdb, WithMasterKeys(ka, kg))
		for _, tenant := range []string{"acme", "globex"} {
			if _, err := s.Active(ctxb, tenant); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetTenantMasterKey(ctxb, "acme", ka); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetTenantMasterKey(ctxb, "globex", kg); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Rotate(ctxb, "acme"); err != nil || v != 2 {
			t.Fatalf("Rotate(acme) = %d, %v", v, err)
		}
		wantCopies(t, s, "acme", 2, "test://kek-acme")

		d := tdb.dialect
		tk := d.Quote(sqldialect.TenantKEKTable(tdb.table))
		read := func(tenant string) (string, []byte) {
			t.Helper()
			var name string
			var proof []byte
			if err := tdb.db.QueryRow(d.Rebind(`SELECT kek_uri, proof FROM `+tk+` WHERE tenant_id = ?`), tenant).Scan(&name, &proof); err != nil {
				t.Fatal(err)
			}
			return name, proof
		}
		write := func(tenant, name string, proof []byte) {
			t.Helper()
			if _, err := tdb.db.Exec(d.Rebind(`UPDATE `+tk+` SET kek_uri = ?, proof = ? WHERE tenant_id = ?`), name, proof, tenant); err != nil {
				t.Fatal(err)
			}
		}
		acmeName, acmeProof := read("acme")
		globexName, globexProof := read("globex")
		if len(acmeProof) == 0 || len(globexProof) == 0 {
			t.Fatal("SetTenantMasterKey stored no proof")
		}

		refused := func(how string) {
			t.Helper()
			// This process, which checked the genuine assignment, and a
			// fresh one.
			for i, st := range []*Store{s, r.store(t, tdb, WithMasterKeys(ka, kg))} {
				if v, err := st.Rotate(ctxb, "acme"); !errors.Is(err, ErrCorruptRow) || !strings.Contains(err.Error(), "set-kek") {
					t.Fatalf("%s: Rotate(acme) in store %d = %d, %v; want ErrCorruptRow naming set-kek", how, i, v, err)
				}
			}
			if got := maxVersion(t, tdb, "acme"); got != 2 {
				t.Fatalf("%s: acme's newest version is %d after refused rotations, want 2", how, got)
			}
		}
		write("acme", globexName, acmeProof)
		refused("pointed at globex's key")
		write("acme", globexName, globexProof)
		refused("globex's assignment copied")
		write("acme", acmeName, nil)
		refused("no proof")
		write("acme", acmeName, []byte("not a proof"))
		refused("a proof that does not unwrap")
		if _, err := s.AddMasterKey(ctxb, newInsecureTestKMS(t).keeper("test://kek-new")); !errors.Is(err, ErrCorruptRow) {
			t.Fatalf("AddMasterKey with a forged assignment = %v, want ErrCorruptRow", err)
		}

		write("acme", acmeName, acmeProof)
		if v, err := s.Rotate(ctxb, "acme"); err != nil || v != 3 {
			t.Fatalf("Rotate(acme) with its assignment back = %d, %v", v, err)
		}
		wantCopies(t, s, "acme", 3, "test://kek-acme")
	})
}

// maxVersion returns the tenant's newest key version in the key table.
func maxVersion(t *testing.T, tdb *testDB, tenant string) int64 {
	t.Helper()
	var v int64
	if err := tdb.db.QueryRow(tdb.dialect.Rebind(`SELECT MAX(version) FROM `+tdb.dialect.Quote(tdb.table)+` WHERE tenant_id = ?`), tenant).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTenantMasterKeyProofUpgrade: a key table at schema version 3 has
// tenant master key assignments without proofs; the upgrade adds the
// column, such an assignment is refused until it is set again, and then
// works.
func TestTenantMasterKeyProofUpgrade(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		ka := newInsecureTestKMS(t).keeper("test://kek-acme")
		s := r.store(t, tdb, WithMasterKeys(ka))
		if _, err := s.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetTenantMasterKey(ctxb, "acme", ka); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		// Back to version 3: no proof column, the version recorded as 3.
		d := tdb.dialect
		for _, table := range []string{tdb.table, tdb.table + indexTableSuffix} {
			if _, err := tdb.db.Exec(`ALTER TABLE ` + d.Quote(sqldialect.TenantKEKTable(table)) + ` DROP COLUMN proof`); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tdb.db.Exec(`UPDATE ` + d.Quote(sqldialect.SchemaTable(tdb.table)) + ` SET version = 3`); err != nil {
			t.Fatal(err)
		}
		if v, err := Upgrade(ctxb, tdb.db, tdb.opts()...); err != nil || v != 3 {
			t.Fatalf("Upgrade() = %d, %v; want found 3", v, err)
		}
		if !d.HasColumn(ctxb, tdb.db, sqldialect.TenantKEKTable(tdb.table), "proof") {
			t.Fatal("Upgrade() added no proof column")
		}
		if v, err := Upgrade(ctxb, tdb.db, tdb.opts()...); err != nil || v != SchemaVersion {
			t.Fatalf("Upgrade() again = %d, %v; want %d", v, err, SchemaVersion)
		}
		fresh := r.store(t, tdb, WithMasterKeys(ka))
		if _, err := fresh.Rotate(ctxb, "acme"); !errors.Is(err, ErrCorruptRow) {
			t.Fatalf("Rotate(acme) with an assignment from before proofs = %v, want ErrCorruptRow", err)
		}
		if res, err := fresh.SetTenantMasterKey(ctxb, "acme", ka); err != nil || res.Skipped != 2 {
			t.Fatalf("SetTenantMasterKey() again = %+v, %v; want its 2 keys skipped", res, err)
		}
		if v, err := fresh.Rotate(ctxb, "acme"); err != nil || v != 3 {
			t.Fatalf("Rotate(acme) once set again = %d, %v", v, err)
		}
		wantCopies(t, fresh, "acme", 3, "test://kek-acme")
	})
}

// TestTenantPolicyPinsOwnKey: with the tenant's own master key also given
// by TenantPolicy.KEK, deleting its stored assignment changes nothing: new
// versions are still wrapped under its key alone, and AddMasterKey gives
// its keys no keyring copy.
func TestTenantPolicyPinsOwnKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		ka := newInsecureTestKMS(t).keeper("test://kek-acme")
		pin := WithTenantPolicy(TenantPolicy{KEK: func(tenant string) string {
			if tenant == "acme" {
				return "test://kek-acme"
			}
			return ""
		}})
		s := r.store(t, tdb, WithMasterKeys(ka), pin)
		for _, tenant := range []string{"acme", "globex"} {
			if _, err := s.Active(ctxb, tenant); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetTenantMasterKey(ctxb, "acme", ka); err != nil {
			t.Fatal(err)
		}
		d := tdb.dialect
		if _, err := tdb.db.Exec(d.Rebind(`DELETE FROM `+d.Quote(sqldialect.TenantKEKTable(tdb.table))+` WHERE tenant_id = ?`), "acme"); err != nil {
			t.Fatal(err)
		}
		fresh := r.store(t, tdb, WithMasterKeys(ka), pin)
		if v, err := fresh.Rotate(ctxb, "acme"); err != nil || v != 2 {
			t.Fatalf("Rotate(acme) = %d, %v", v, err)
		}
		wantCopies(t, fresh, "acme", 2, "test://kek-acme")
		res, err := fresh.AddMasterKey(ctxb, newInsecureTestKMS(t).keeper("test://kek-new"))
		if err != nil || res.Added != 1 {
			t.Fatalf("AddMasterKey() = %+v, %v; want globex's one key added, none of acme's", res, err)
		}
		wantCopies(t, fresh, "acme", 1, "test://kek-acme")
		wantCopies(t, fresh, "acme", 2, "test://kek-acme")
	})
}
