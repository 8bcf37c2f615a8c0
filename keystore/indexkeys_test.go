package keystore

import (
	"bytes"
	"errors"
	"testing"
)

// indexOf returns the 16-byte index of v under x.
func indexOf(t *testing.T, s *Store, tenant, v string) []byte {
	t.Helper()
	x, err := s.ActiveIndexer(ctxb, tenant, "users", "email", "email_bidx")
	if err != nil {
		t.Fatalf("ActiveIndexer(%s) = %v", tenant, err)
	}
	out, err := x.Index(nil, []byte(v), 16)
	if err != nil {
		t.Fatalf("Index() = %v", err)
	}
	return out
}

func TestIndexKeysSurviveDataKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		idxTable := tdb.table + "_index_keys"
		countIdx := func(where string, args ...any) int {
			t.Helper()
			var n int
			q := tdb.dialect.Rebind(`SELECT COUNT(*) FROM ` + idxTable + ` WHERE ` + where)
			if err := tdb.db.QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatalf("count index key rows = %v", err)
			}
			return n
		}

		// A lookup of a tenant without an index key creates none.
		if l, err := s.LiveIndexers(ctxb, "acme", "users", "email", "email_bidx"); err != nil || l != nil {
			t.Fatalf("LiveIndexers(new tenant) = %v, %v; want nil, nil", l, err)
		}
		if n := countIdx("tenant_id = ?", "acme"); n != 0 {
			t.Fatalf("index key rows after a lookup = %d, want 0", n)
		}

		before := indexOf(t, s, "acme", "ann@example.com")
		if n := countIdx("tenant_id = ? AND version = 1 AND state = 'active'", "acme"); n != 1 {
			t.Fatalf("index key rows after first use = %d, want one active v1", n)
		}
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 0 {
			t.Fatalf("data key rows after an index key was made = %d, want 0", n)
		}
		if got := indexOf(t, other, "acme", "ann@example.com"); !bytes.Equal(got, before) {
			t.Fatalf("another Store's index = %x, want %x", got, before)
		}

		// Data-key rotations leave the index alone.
		if _, err := s.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		for want := uint32(2); want <= 4; want++ {
			if v, err := s.Rotate(ctxb, "acme"); err != nil || v != want {
				t.Fatalf("Rotate() = %d, %v; want %d", v, err, want)
			}
		}
		if got := indexOf(t, s, "acme", "ann@example.com"); !bytes.Equal(got, before) {
			t.Fatalf("index after 3 data-key rotations = %x, want %x", got, before)
		}
		if n := countIdx("tenant_id = ?", "acme"); n != 1 {
			t.Fatalf("index key rows after data-key rotations = %d, want 1", n)
		}

		// An index key rotation changes the index and leaves the data key.
		v, err := s.RotateIndexKey(ctxb, "acme")
		if err != nil || v != 2 {
			t.Fatalf("RotateIndexKey() = %d, %v; want 2, nil", v, err)
		}
		if dv, err := s.Active(ctxb, "acme"); err != nil || dv != 4 {
			t.Fatalf("Active() after RotateIndexKey = %d, %v; want 4", dv, err)
		}
		after := indexOf(t, s, "acme", "ann@example.com")
		if bytes.Equal(after, before) {
			t.Fatal("index after RotateIndexKey equals the old one")
		}
		live, err := s.LiveIndexers(ctxb, "acme", "users", "email", "email_bidx")
		if err != nil || len(live) != 2 || live[0].Version() != 2 || live[1].Version() != 1 {
			t.Fatalf("LiveIndexers() = %v, %v; want versions 2, 1", live, err)
		}
		if old, _ := live[1].Index(nil, []byte("ann@example.com"), 16); !bytes.Equal(old, before) {
			t.Fatalf("retired index key's index = %x, want %x", old, before)
		}

		// Shred destroys both families.
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatalf("Shred() = %v", err)
		}
		if n := countIdx("tenant_id = ? AND (state <> 'destroyed' OR wrapped_dek IS NOT NULL)", "acme"); n != 0 {
			t.Fatalf("live index key rows after Shred = %d, want 0", n)
		}
		if _, err := s.ActiveIndexer(ctxb, "acme", "users", "email", "email_bidx"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("ActiveIndexer(shredded) = %v, want ErrKeyDestroyed", err)
		}
		if _, err := live[0].Index(nil, []byte("x"), 16); err == nil {
			t.Fatal("an indexer handed out before Shred still indexes")
		}
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		if _, err := fresh.ActiveIndexer(ctxb, "acme", "users", "email", "email_bidx"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("another Store's ActiveIndexer(shredded) = %v, want ErrKeyDestroyed", err)
		}
		// A tenant with index keys only is shredded too.
		indexOf(t, s, "idxonly", "x")
		if err := s.Shred(ctxb, "idxonly"); err != nil {
			t.Fatalf("Shred(index keys only) = %v", err)
		}
		if err := s.Shred(ctxb, "nobody"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Shred(no keys) = %v, want ErrKeyNotFound", err)
		}
	})
}

// A wrapped data key copied into the index key table does not unwrap as
// an index key: the KMS binds the purpose.
func TestIndexKeyIsNotADataKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := s.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		indexOf(t, s, "acme", "x")
		dek := readRaw(t, tdb, "acme", 1)
		q := tdb.dialect.Rebind(`UPDATE ` + tdb.table + `_index_keys SET wrapped_dek = ? WHERE tenant_id = ? AND version = 1`)
		if _, err := tdb.db.Exec(q, dek.wrapped, "acme"); err != nil {
			t.Fatal(err)
		}
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		if _, err := fresh.ActiveIndexer(ctxb, "acme", "users", "email", "email_bidx"); err == nil {
			t.Fatal("ActiveIndexer() over a data key's blob = nil error, want the unwrap refused")
		}
	})
}

// Rewrap moves the index keys to the new master key too.
func TestRewrapIndexKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithMasterKeys(drv.keeper(testKEK2)))
		if _, err := s.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		want := indexOf(t, s, "acme", "x")
		res, err := s.Rewrap(ctxb, drv.keeper(testKEK2), RewrapOptions{})
		if err != nil || res.Rewrapped != 2 {
			t.Fatalf("Rewrap() = %+v, %v; want 2 rows rewrapped", res, err)
		}
		var uri string
		q := tdb.dialect.Rebind(`SELECT kek_uri FROM ` + tdb.table + `_index_keys WHERE tenant_id = ?`)
		if err := tdb.db.QueryRow(q, "acme").Scan(&uri); err != nil || uri != testKEK2 {
			t.Fatalf("index key kek_uri after Rewrap = %q, %v; want %q", uri, err, testKEK2)
		}
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK2))
		if got := indexOf(t, fresh, "acme", "x"); !bytes.Equal(got, want) {
			t.Fatalf("index after Rewrap = %x, want %x", got, want)
		}
	})
}

// The tenant policy holds for index keys: under KnownOnly a tenant gets
// an index key once it has a data key, and a shredded tenant gets none.
func TestIndexKeyTenantPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTenantPolicy(TenantPolicy{KnownOnly: true}))
		if _, err := s.ActiveIndexer(ctxb, "acme", "users", "email", "email_bidx"); !errors.Is(err, ErrUnknownTenant) {
			t.Fatalf("ActiveIndexer(unknown tenant) = %v, want ErrUnknownTenant", err)
		}
		if err := s.InitTenant(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		indexOf(t, s, "acme", "x")

		open := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		if _, err := open.Active(ctxb, "gone"); err != nil {
			t.Fatal(err)
		}
		// Shredded before it ever had an index key.
		q := tdb.dialect.Rebind(`UPDATE ` + tdb.table + ` SET state = 'destroyed', wrapped_dek = NULL WHERE tenant_id = ?`)
		if _, err := tdb.db.Exec(q, "gone"); err != nil {
			t.Fatal(err)
		}
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		if _, err := fresh.ActiveIndexer(ctxb, "gone", "users", "email", "email_bidx"); !errors.Is(err, ErrKeyDestroyed) {
			t.Fatalf("ActiveIndexer(shredded tenant) = %v, want ErrKeyDestroyed", err)
		}
	})
}
