package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

func TestRewrap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		kmsA, kmsB := newInsecureTestKMS(t), newInsecureTestKMS(t)
		kekA, kekB := kmsA.keeper(testKEK), kmsB.keeper(testKEK2)
		s := newTestStore(t, tdb, tdb.db, kekA)

		// A data table with values sealed under several tenants and versions.
		data := tdb.table + "_patients"
		blob := "BLOB"
		if tdb.dialect == sqldialect.Postgres {
			blob = "bytea"
		}
		if _, err := tdb.db.Exec(`CREATE TABLE ` + data + ` (id integer PRIMARY KEY, tenant_id text, version integer, name ` + blob + `)`); err != nil {
			t.Fatal(err)
		}
		id := 0
		seal := func(tenant string) {
			k, err := s.active(ctxb, tenant)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := k.Cipher("patients", "name")
			v, _ := c.Seal(nil, []byte(fmt.Sprintf("patient %d of %s", id, tenant)))
			id++
			if _, err := tdb.db.Exec(tdb.q(`INSERT INTO `+data+` VALUES (?, ?, ?, ?)`), id, tenant, int64(k.Version()), v); err != nil {
				t.Fatal(err)
			}
		}
		for _, tn := range []string{"acme", "globex", "initech"} {
			seal(tn)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		seal("acme")
		if _, err := s.active(ctxb, "umbrella"); err != nil {
			t.Fatal(err)
		}
		if err := s.Shred(ctxb, "umbrella"); err != nil {
			t.Fatal(err)
		}
		dataBefore := dumpTable(t, tdb, data)
		before := map[keyID]rawRow{}
		for _, id := range []keyID{{"acme", 1}, {"acme", 2}, {"globex", 1}, {"initech", 1}} {
			before[id] = readRaw(t, tdb, id.tenant, id.version)
		}

		var progress []RewrapResult
		res, err := s.Rewrap(ctxb, kekB, RewrapOptions{BatchSize: 3, Progress: func(r RewrapResult) { progress = append(progress, r) }})
		if err != nil {
			t.Fatalf("Rewrap() = %v", err)
		}
		if want := (RewrapResult{Scanned: 4, Rewrapped: 4}); res != want {
			t.Fatalf("Rewrap() = %+v, want %+v", res, want)
		}
		if len(progress) != 2 || progress[1] != res {
			t.Fatalf("progress = %+v, want 2 batches ending with %+v", progress, res)
		}
		for id, b := range before {
			a := readRaw(t, tdb, id.tenant, id.version)
			if a.kekURI != testKEK2 || bytes.Equal(a.wrapped, b.wrapped) || a.state != b.state {
				t.Errorf("row %v after Rewrap = %s %s, want kek %s, new wrapped bytes, same state", id, a.state, a.kekURI, testKEK2)
			}
		}
		if r := readRaw(t, tdb, "umbrella", 1); r.state != "destroyed" || !r.null || r.kekURI != testKEK {
			t.Errorf("shredded row after Rewrap = %+v, want untouched", r)
		}
		if after := dumpTable(t, tdb, data); after != dataBefore {
			t.Fatalf("data table changed by Rewrap")
		}

		// A process holding only the new master key opens every value.
		kmsA.setDown(errTestDenied)
		fresh := newTestStore(t, tdb, tdb.open(t), kekB)
		rows, err := tdb.db.Query(`SELECT tenant_id, version, name FROM ` + data)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var (
				tn string
				v  int64
				ct []byte
			)
			if err := rows.Scan(&tn, &v, &ct); err != nil {
				t.Fatal(err)
			}
			k, err := fresh.lookupKey(ctxb, tn, uint32(v))
			if err != nil {
				t.Fatalf("Key(%s, %d) after Rewrap = %v", tn, v, err)
			}
			c, _ := k.Cipher("patients", "name")
			if _, err := c.Open(nil, ct); err != nil {
				t.Fatalf("Open(%s v%d value) after Rewrap = %v", tn, v, err)
			}
			n++
		}
		rows.Close()
		if n != 4 {
			t.Fatalf("opened %d values, want 4", n)
		}
		kmsA.setDown(nil)

		// Resumable: a second run finds nothing to do.
		if res, err := s.Rewrap(ctxb, kekB, RewrapOptions{}); err != nil || res != (RewrapResult{Scanned: 4, Skipped: 4}) {
			t.Fatalf("Rewrap() again = %+v, %v; want 4 skipped", res, err)
		}
		// Force rewraps under the same key; filters narrow.
		g1 := readRaw(t, tdb, "globex", 1)
		res, err = s.Rewrap(ctxb, kekB, RewrapOptions{Force: true, Tenants: []string{"globex"}})
		if err != nil || res != (RewrapResult{Scanned: 1, Rewrapped: 1}) {
			t.Fatalf("Rewrap(force, globex) = %+v, %v; want 1 rewrapped", res, err)
		}
		if g := readRaw(t, tdb, "globex", 1); bytes.Equal(g.wrapped, g1.wrapped) || g.kekURI != testKEK2 {
			t.Fatalf("globex row after forced Rewrap = %+v, want new bytes under %s", g, testKEK2)
		}
		res, err = s.Rewrap(ctxb, kekA, RewrapOptions{From: "test://nothing"})
		if err != nil || res != (RewrapResult{Scanned: 4, Skipped: 4}) {
			t.Fatalf("Rewrap(from nothing) = %+v, %v; want 4 skipped", res, err)
		}
	})
}

// TestRewrapConflict: a row that changes while it is being rewrapped is
// left as it now is.
func TestRewrapConflict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		kmsA, kmsB := newInsecureTestKMS(t), newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, kmsA.keeper(testKEK))
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		admin := newTestStore(t, tdb, tdb.open(t), kmsA.keeper(testKEK))
		kmsB.setOnWrap(func() {
			if err := admin.Shred(ctxb, "acme"); err != nil {
				t.Errorf("Shred during Rewrap = %v", err)
			}
		})
		res, err := s.Rewrap(ctxb, kmsB.keeper(testKEK2), RewrapOptions{})
		if err != nil || res != (RewrapResult{Scanned: 1, Conflicts: 1}) {
			t.Fatalf("Rewrap() with a concurrent Shred = %+v, %v; want 1 conflict", res, err)
		}
		if r := readRaw(t, tdb, "acme", 1); r.state != "destroyed" || !r.null {
			t.Fatalf("row after conflicting Rewrap = %+v, want destroyed and erased", r)
		}
	})
}

// TestRewrapVerifies: a new master key that does not give the key back
// leaves the row unchanged.
func TestRewrapVerifies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		kmsA, kmsB := newInsecureTestKMS(t), newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, kmsA.keeper(testKEK))
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		before := readRaw(t, tdb, "acme", 1)
		kmsB.setTamper(true)
		if _, err := s.Rewrap(ctxb, kmsB.keeper(testKEK2), RewrapOptions{}); err == nil {
			t.Fatalf("Rewrap() to a KMS returning another key = nil error, want one")
		}
		if a := readRaw(t, tdb, "acme", 1); !bytes.Equal(a.wrapped, before.wrapped) || a.kekURI != testKEK {
			t.Fatalf("row after failed Rewrap changed")
		}
		// A failing old master key stops Rewrap with its error.
		kmsB.setTamper(false)
		kmsA.setDown(errTestDenied)
		if _, err := s.Rewrap(ctxb, kmsB.keeper(testKEK2), RewrapOptions{}); !errors.Is(err, errTestDenied) {
			t.Fatalf("Rewrap() with the old KMS denied = %v, want errTestDenied", err)
		}
	})
}

// dumpTable renders a table's rows for comparison.
func dumpTable(t *testing.T, tdb *testDB, table string) string {
	t.Helper()
	rows, err := tdb.db.Query(`SELECT id, tenant_id, version, name FROM ` + table + ` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b bytes.Buffer
	for rows.Next() {
		var (
			id, v int64
			tn    string
			name  []byte
		)
		if err := rows.Scan(&id, &tn, &v, &name); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %d %x\n", id, tn, v, name)
	}
	return b.String()
}
