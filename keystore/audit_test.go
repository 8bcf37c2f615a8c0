package keystore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// eventOps lists the trail's operations in order, as "op tenant vVERSION".
func eventOps(t *testing.T, s *Store) []string {
	t.Helper()
	evs, err := s.AuditEvents(ctxb, "")
	if err != nil {
		t.Fatalf("AuditEvents() = %v", err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		if e.Seq != int64(i) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		out[i] = fmt.Sprintf("%s %s v%d", e.Operation, e.Tenant, e.Version)
	}
	return out
}

// wantVerified checks that the whole trail verifies and holds n events.
func wantVerified(t *testing.T, s *Store, n int) {
	t.Helper()
	got, err := s.VerifyAudit(ctxb)
	if err != nil || got != n {
		t.Fatalf("VerifyAudit() = %d, %v; want %d, nil", got, err, n)
	}
}

// TestAuditEachOperation: each key operation that changes the table
// appends exactly one event, with its actor and master key; one that
// changes nothing appends none.
func TestAuditEachOperation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithMasterKeys(drv.keeper(testKEK2)))
		ctx := WithActor(ctxb, "alice")
		if _, err := s.active(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.active(ctx, "acme"); err != nil { // exists: no event
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rewrap(ctx, drv.keeper(testKEK2), RewrapOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rewrap(ctx, drv.keeper(testKEK2), RewrapOptions{}); err != nil { // nothing left to move
			t.Fatal(err)
		}
		if err := s.DestroyVersion(ctx, "acme", 1); err != nil {
			t.Fatal(err)
		}
		if err := s.DestroyVersion(ctx, "acme", 1); err != nil { // already destroyed
			t.Fatal(err)
		}
		if err := s.Shred(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := s.Shred(ctx, "acme"); err != nil { // already shredded
			t.Fatal(err)
		}
		want := []string{"chain-key  v0", "create acme v1", "rotate acme v2", "rewrap acme v1", "rewrap acme v2",
			"destroy-version acme v1", "shred acme v0"}
		if got := eventOps(t, s); !slices.Equal(got, want) {
			t.Fatalf("events = %q, want %q", got, want)
		}
		evs, _ := s.AuditEvents(ctxb, "acme")
		kek := []string{testKEK, testKEK, testKEK2, testKEK2, testKEK2, ""}
		for i, e := range evs {
			if e.Actor != "alice" || e.KEKURI != kek[i] || e.KeySeq != 0 || e.At.IsZero() || len(e.MAC) != 32 {
				t.Errorf("event %+v: want actor alice, master key %q, key_seq 0, a time and a MAC", e, kek[i])
			}
		}
		wantVerified(t, s, len(want))
	})
}

// TestAuditFailedOperationAppendsNone: an operation that fails appends
// nothing, and an event that cannot be appended undoes the change.
func TestAuditFailedOperationAppendsNone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "globex"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Rotate(globex) = %v, want ErrKeyNotFound", err)
		}
		if err := s.DestroyVersion(ctxb, "acme", 1); !errors.Is(err, ErrVersionInUse) {
			t.Fatalf("DestroyVersion(acme, 1) = %v, want ErrVersionInUse", err)
		}
		if err := s.Shred(ctxb, "globex"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Shred(globex) = %v, want ErrKeyNotFound", err)
		}
		drv.failNext(errTestDenied)
		if _, err := s.Rotate(ctxb, "acme"); !errors.Is(err, errTestDenied) {
			t.Fatalf("Rotate(acme) with the KMS denying = %v, want errTestDenied", err)
		}
		if got, want := eventOps(t, s), []string{"chain-key  v0", "create acme v1"}; !slices.Equal(got, want) {
			t.Fatalf("events after failed operations = %q, want %q", got, want)
		}

		// The trail's table is gone (this Store already made it): the
		// rotation cannot append its event, so it does not happen.
		if _, err := tdb.db.Exec(`DROP TABLE ` + tdb.dialect.Quote(sqldialect.EventsTable(tdb.table))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); !errors.Is(err, ErrAuditTable) {
			t.Fatalf("Rotate(acme) without an events table = %v, want ErrAuditTable", err)
		}
		if err := s.Shred(ctxb, "acme"); !errors.Is(err, ErrAuditTable) {
			t.Fatalf("Shred(acme) without an events table = %v, want ErrAuditTable", err)
		}
		if n := countRows(t, tdb, "tenant_id = ? AND state = 'active'", "acme"); n != 1 {
			t.Fatalf("active rows of acme = %d, want 1", n)
		}
		if n := countRows(t, tdb, "1 = 1"); n != 1 {
			t.Fatalf("key rows = %d, want 1: the failed rotation left a row", n)
		}
	})
}

// TestAuditTableCreatedOnFirstUse: a key table made before the trail
// existed (no events table) keeps working; the first operation creates
// the trail.
func TestAuditTableCreatedOnFirstUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		if _, err := tdb.db.Exec(`DROP TABLE ` + tdb.dialect.Quote(sqldialect.EventsTable(tdb.table))); err != nil {
			t.Fatal(err)
		}
		s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK))
		if n, err := s.VerifyAudit(ctxb); !errors.Is(err, ErrAuditTable) || n != 0 {
			t.Fatalf("VerifyAudit() before any event = %d, %v; want ErrAuditTable", n, err)
		}
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		wantVerified(t, s, 2)
	})
}

// tamperCase builds a trail of 6 events in a table of its own, changes
// it with tamper, and wants VerifyAudit to name event bad.
func tamperCase(t *testing.T, tdb *testDB, name string, bad int64, tamper func(ev string)) {
	t.Run(name, func(t *testing.T) {
		table := tdb.table + "_" + name
		if err := CreateTable(ctxb, tdb.db, WithDialect(tdb.dialect.String()), WithTable(table)); err != nil {
			t.Fatal(err)
		}
		s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), WithTable(table))
		for _, tn := range []string{"a", "b"} {
			if _, err := s.active(ctxb, tn); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rotate(ctxb, tn); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Shred(ctxb, "a"); err != nil {
			t.Fatal(err)
		}
		wantVerified(t, s, 6)
		tamper(tdb.dialect.Quote(sqldialect.EventsTable(table)))
		_, err := s.VerifyAudit(ctxb)
		var ce *Error
		if !errors.As(err, &ce) || !errors.Is(err, ErrAuditChainBroken) || ce.Seq != bad {
			t.Fatalf("VerifyAudit() after %s = %v, want an Error at event %d", name, err, bad)
		}
	})
}

// TestAuditTamper: editing, deleting or reordering one event row is
// reported, naming the first bad event.
func TestAuditTamper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := tdb.db.Exec(tdb.dialect.Rebind(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		tamperCase(t, tdb, "edit_actor", 2, func(ev string) { exec(`UPDATE `+ev+` SET actor = ? WHERE seq = 2`, "mallory") })
		tamperCase(t, tdb, "edit_tenant", 3, func(ev string) { exec(`UPDATE `+ev+` SET tenant_id = ? WHERE seq = 3`, "c") })
		tamperCase(t, tdb, "edit_op", 5, func(ev string) { exec(`UPDATE ` + ev + ` SET operation = 'rotate' WHERE seq = 5`) })
		tamperCase(t, tdb, "edit_chain_key", 0, func(ev string) { exec(`UPDATE ` + ev + ` SET kek_uri = 'test://other' WHERE seq = 0`) })
		tamperCase(t, tdb, "delete", 3, func(ev string) { exec(`DELETE FROM ` + ev + ` WHERE seq = 2`) })
		tamperCase(t, tdb, "delete_first", 1, func(ev string) { exec(`DELETE FROM ` + ev + ` WHERE seq = 0`) })
		tamperCase(t, tdb, "swap", 2, func(ev string) {
			exec(`UPDATE ` + ev + ` SET seq = 100 WHERE seq = 2`)
			exec(`UPDATE ` + ev + ` SET seq = 2 WHERE seq = 3`)
			exec(`UPDATE ` + ev + ` SET seq = 3 WHERE seq = 100`)
		})
		tamperCase(t, tdb, "replay_mac", 4, func(ev string) {
			exec(`UPDATE ` + ev + ` SET mac = (SELECT mac FROM (SELECT mac FROM ` + ev + ` WHERE seq = 3) m) WHERE seq = 4`)
		})
	})
}

// TestAuditConcurrentAppends: two Stores (two processes) appending at once
// keep one chain: every event at its own position, all verified.
func TestAuditConcurrentAppends(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		stores := []*Store{newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK)), newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))}
		const perStore, rotations = 3, 3
		var wg sync.WaitGroup
		errs := make(chan error, 2*perStore)
		for i, s := range stores {
			for j := range perStore {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tn := fmt.Sprintf("t%d-%d", i, j)
					if _, err := s.active(context.Background(), tn); err != nil {
						errs <- err
						return
					}
					for range rotations {
						if _, err := s.Rotate(context.Background(), tn); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// One chain-key row (the first Store to start the trail won), then
		// a create and the rotations of each tenant.
		want := 1 + 2*perStore*(1+rotations)
		wantVerified(t, stores[0], want)
		wantVerified(t, stores[1], want)
	})
}

// TestAuditMasterKeyChange: a Store without the master key of the
// trail's chain key starts a new segment under its own; a Store holding
// both verifies the whole trail, one holding only the new key cannot.
func TestAuditMasterKeyChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		old := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := old.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		both := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK2), WithMasterKeys(drv.keeper(testKEK)))
		if _, err := both.Rewrap(ctxb, drv.keeper(testKEK2), RewrapOptions{}); err != nil {
			t.Fatal(err)
		}
		onlyNew := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK2))
		if _, err := onlyNew.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		want := []string{"chain-key  v0", "create acme v1", "rewrap acme v1", "chain-key  v0", "rotate acme v2"}
		if got := eventOps(t, both); !slices.Equal(got, want) {
			t.Fatalf("events = %q, want %q", got, want)
		}
		wantVerified(t, both, len(want))
		var ce *Error
		if _, err := onlyNew.VerifyAudit(ctxb); !errors.As(err, &ce) || ce.Seq != 0 {
			t.Fatalf("VerifyAudit() without the first master key = %v, want an Error at event 0", err)
		}
	})
}
