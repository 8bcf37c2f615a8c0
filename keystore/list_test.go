package keystore

import (
	"slices"
	"testing"
	"time"
)

func TestListAndTenants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), withClock(clock.Now))

		if got, err := s.List(ctxb, ""); err != nil || len(got) != 0 {
			t.Fatalf("List(\"\") on an empty table = %v, %v; want none", got, err)
		}
		t0 := clock.Now()
		for _, tn := range []string{"initech", "acme", "globex"} {
			if _, err := s.active(ctxb, tn); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Hour)
		t1 := clock.Now()
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := s.Shred(ctxb, "globex"); err != nil {
			t.Fatal(err)
		}

		got, err := s.List(ctxb, "")
		if err != nil {
			t.Fatalf("List(\"\") = %v", err)
		}
		want := []KeyInfo{
			{"acme", 1, stateRetired, testKEK, []string{testKEK}, t0, t1},
			{"acme", 2, stateActive, testKEK, []string{testKEK}, t1, t1},
			{"globex", 1, stateDestroyed, testKEK, nil, t0, t1},
			{"initech", 1, stateActive, testKEK, []string{testKEK}, t0, t0},
		}
		if len(got) != len(want) {
			t.Fatalf("List(\"\") = %+v, want %+v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Tenant != w.Tenant || g.Version != w.Version || g.State != w.State || g.KEKURI != w.KEKURI || !slices.Equal(g.Copies, w.Copies) ||
				!g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
				t.Errorf("List(\"\")[%d] = %+v, want %+v", i, g, w)
			}
		}
		one, err := s.List(ctxb, "acme")
		if err != nil || len(one) != 2 || one[0].Version != 1 || one[1].Version != 2 {
			t.Fatalf("List(acme) = %+v, %v; want v1, v2", one, err)
		}
		tenants, err := s.Tenants(ctxb)
		if err != nil || !slices.Equal(tenants, []string{"acme", "globex", "initech"}) {
			t.Fatalf("Tenants() = %v, %v; want [acme globex initech]", tenants, err)
		}
	})
}
