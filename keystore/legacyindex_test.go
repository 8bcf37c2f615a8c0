package keystore

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// legacyVersions returns the versions of s.LegacyIndexCiphers(tenant).
func legacyVersions(t *testing.T, s *Store, tenant string) []uint32 {
	t.Helper()
	cs, err := s.LegacyIndexCiphers(ctxb, tenant, "patients", "email")
	if err != nil {
		t.Fatalf("LegacyIndexCiphers(%s) = %v", tenant, err)
	}
	var vs []uint32
	for _, c := range cs {
		vs = append(vs, c.Version())
	}
	return vs
}

func wantLegacy(t *testing.T, s *Store, tenant string, want ...uint32) {
	t.Helper()
	if got := legacyVersions(t, s, tenant); !slices.Equal(got, want) {
		t.Fatalf("legacy index versions of %s = %v, want %v", tenant, got, want)
	}
}

func wantLegacyCount(t *testing.T, tdb *testDB, want int64) {
	t.Helper()
	if n, err := CountLegacyIndexes(ctxb, tdb.db, tdb.opts()...); err != nil || n != want {
		t.Fatalf("CountLegacyIndexes() = %d, %v; want %d", n, err, want)
	}
}

// TestLegacyIndexMarks: upgrading a key table made by a release before
// index keys records its tenants, with the versions they had, as the ones
// whose blind indexes may be under a data key; a tenant made since, and a
// version made since, are not; Clear and Mark change that, and the key
// table's own CreateTable does not fill the table again.
func TestLegacyIndexMarks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		v1 := v1Table(t, tdb)
		drv := newInsecureTestKMS(t)
		kek := drv.keeper(testKEK)
		w := &oldWriter{tdb: &v1, kek: kek, q: tdb.dialect.KeyQueries(v1.table)}
		for _, k := range []struct {
			tenant  string
			version uint32
		}{{"old-a", 1}, {"old-a", 2}, {"old-b", 1}} {
			if err := w.write(ctxb, k.tenant, k.version); err != nil {
				t.Fatal(err)
			}
		}

		clk := newFakeClock()
		s := newTestStore(t, &v1, tdb.db, kek, withClock(clk.Now)) // upgrades
		wantLegacyCount(t, &v1, 2)
		wantLegacy(t, s, "old-a", 2, 1)
		wantLegacy(t, s, "old-b", 1)

		// A tenant made after the upgrade, and a version made after it.
		if _, err := s.Active(ctxb, "new-c"); err != nil {
			t.Fatal(err)
		}
		wantLegacy(t, s, "new-c")
		if v, err := s.Rotate(ctxb, "old-b"); err != nil || v != 2 {
			t.Fatalf("Rotate(old-b) = %d, %v", v, err)
		}
		wantLegacy(t, s, "old-b", 1)

		// A Store sees a clear within its cache TTL.
		if n, err := ClearLegacyIndexes(ctxb, tdb.db, "old-a", v1.opts()...); err != nil || n != 1 {
			t.Fatalf("ClearLegacyIndexes(old-a) = %d, %v; want 1", n, err)
		}
		wantLegacy(t, s, "old-a", 2, 1)
		clk.Advance(defaultCacheTTL + time.Second)
		wantLegacy(t, s, "old-a")
		wantLegacyCount(t, &v1, 1)

		// Mark records every tenant as it stands, raising, never lowering.
		if n, err := MarkLegacyIndexes(ctxb, tdb.db, v1.opts()...); err != nil || n != 3 {
			t.Fatalf("MarkLegacyIndexes() = %d, %v; want 3", n, err)
		}
		clk.Advance(defaultCacheTTL + time.Second)
		wantLegacy(t, s, "old-a", 2, 1)
		wantLegacy(t, s, "old-b", 2, 1)
		wantLegacy(t, s, "new-c", 1)

		// A mark past every version (written by hand, or by an attacker)
		// widens the lookup to the tenant's live versions, no further.
		lq := tdb.dialect.Rebind(`UPDATE ` + tdb.dialect.Quote(sqldialect.LegacyIndexTable(v1.table)) + ` SET through_version = ? WHERE tenant_id = ?`)
		if _, err := tdb.db.Exec(lq, int64(1)<<40, "new-c"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "new-c"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(defaultCacheTTL + time.Second)
		wantLegacy(t, s, "new-c", 2, 1)

		// Clear everything; CreateTable on the upgraded table adds nothing.
		if n, err := ClearLegacyIndexes(ctxb, tdb.db, "", v1.opts()...); err != nil || n != 3 {
			t.Fatalf("ClearLegacyIndexes(\"\") = %d, %v; want 3", n, err)
		}
		if err := CreateTable(ctxb, tdb.db, v1.opts()...); err != nil {
			t.Fatal(err)
		}
		if _, err := Upgrade(ctxb, tdb.db, v1.opts()...); err != nil {
			t.Fatal(err)
		}
		wantLegacyCount(t, &v1, 0)
		clk.Advance(defaultCacheTTL + time.Second)
		for _, tenant := range []string{"old-a", "old-b", "new-c"} {
			wantLegacy(t, s, tenant)
		}
	})
}

// TestLegacyIndexFreshTable: a key table made by this release has no
// legacy index mark, whatever its tenants do, so their lookups try no data
// key.
func TestLegacyIndexFreshTable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		mustCreateTable(t, tdb)
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		for i := range 3 {
			tenant := fmt.Sprintf("t%d", i)
			if _, err := s.Active(ctxb, tenant); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rotate(ctxb, tenant); err != nil {
				t.Fatal(err)
			}
		}
		mustCreateTable(t, tdb)
		wantLegacyCount(t, tdb, 0)
		wantLegacy(t, s, "t0")
		if _, err := s.LegacyIndexCiphers(ctxb, "", "patients", "email"); err == nil {
			t.Fatal("LegacyIndexCiphers of an empty tenant id: no error")
		}
	})
}
