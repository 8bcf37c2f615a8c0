package keystore

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// ring is two test KMSes, a and b, named testKEK and testKEK2.
type ring struct {
	a, b   *insecureTestKMS
	ka, kb *kms.Keeper
}

func newRing(t *testing.T) ring {
	a, b := newInsecureTestKMS(t), newInsecureTestKMS(t)
	return ring{a: a, b: b, ka: a.keeper(testKEK), kb: b.keeper(testKEK2)}
}

// store returns a Store whose keyring is a then b, with a breaker
// cool-down long enough that no test sees it pass unless it moves clock.
func (r ring) store(t *testing.T, tdb *testDB, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithKeyring(r.kb), WithTuning(Tuning{BreakerCooldown: time.Hour})}, opts...)
	return newTestStore(t, tdb, tdb.db, r.ka, opts...)
}

// copiesOf counts the rows of the copies table, for one tenant or all.
func copiesOf(t testing.TB, tdb *testDB, tenant string) int {
	t.Helper()
	var n int
	q, args := `SELECT COUNT(*) FROM {keys}_wraps`, []any(nil)
	if tenant != "" {
		q, args = q+` WHERE tenant_id = ?`, []any{tenant}
	}
	if err := tdb.db.QueryRow(tdb.q(q), args...).Scan(&n); err != nil {
		t.Fatalf("count copies = %v", err)
	}
	return n
}

// wantCopies checks the master keys List shows for one key version.
func wantCopies(t testing.TB, s *Store, tenant string, version uint32, want ...string) {
	t.Helper()
	keys, err := s.List(ctxb, tenant)
	if err != nil {
		t.Fatalf("List(%q) = %v", tenant, err)
	}
	for _, k := range keys {
		if k.Version == version {
			if !slices.Equal(k.Copies, want) {
				t.Fatalf("List(%q) v%d copies = %q, want %q", tenant, version, k.Copies, want)
			}
			return
		}
	}
	t.Fatalf("List(%q) has no version %d", tenant, version)
}

// TestKeyringWrapsEveryKey: a tenant's first key and each rotation are
// wrapped under every ring key, one copy each, and each copy opens the
// key alone.
func TestKeyringWrapsEveryKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		s := r.store(t, tdb)
		k1, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		wantCopies(t, s, "acme", 1, testKEK, testKEK2)
		wantCopies(t, s, "acme", 2, testKEK, testKEK2)
		if n := copiesOf(t, tdb, "acme"); n != 2 {
			t.Fatalf("%d rows in the copies table, want 2 (the key rows hold the first copies)", n)
		}
		if got := readRaw(t, tdb, "acme", 1).kekURI; got != testKEK {
			t.Fatalf("key row under %q, want the first ring key %q", got, testKEK)
		}

		// Each master key alone opens every version.
		onlyA := newTestStore(t, tdb, tdb.db, r.ka)
		onlyB := newTestStore(t, tdb, tdb.db, r.kb)
		for _, other := range []*Store{onlyA, onlyB} {
			k, err := other.lookupKey(ctxb, "acme", 1)
			if err != nil {
				t.Fatalf("%v: Key(acme, 1) = %v", other, err)
			}
			sealOpen(t, k1, k)
			if _, err := other.lookupKey(ctxb, "acme", 2); err != nil {
				t.Fatalf("%v: Key(acme, 2) = %v", other, err)
			}
		}
	})
}

// TestKeyringFailover: with the first ring key down for the whole run,
// cold tenants still open and seal, and the first key is called once, not
// once per cold key: its breaker sends every later load to b first.
func TestKeyringFailover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		seed := r.store(t, tdb)
		const tenants = 20
		names := make([]string, tenants)
		for i := range names {
			names[i] = fmt.Sprintf("tenant-%02d", i)
			if _, err := seed.active(ctxb, names[i]); err != nil {
				t.Fatal(err)
			}
		}
		r.a.setDown(retryable())
		s := r.store(t, tdb)
		aBefore, bBefore := r.a.unwraps.Load(), r.b.unwraps.Load()
		if _, err := s.lookupKey(ctxb, names[0], 1); err != nil {
			t.Fatalf("Key() with the first ring key down = %v", err)
		}
		if n := r.a.unwraps.Load() - aBefore; n != 1 {
			t.Fatalf("%d calls to the dead key on the first cold load, want 1 (no retries while another copy exists)", n)
		}
		var wg sync.WaitGroup
		errs := make(chan error, tenants)
		for _, name := range names[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.lookupKey(ctxb, name, 1); err != nil {
					errs <- err
				}
				if _, err := s.ActiveCipher(ctxb, name, "patients", "name"); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("cold load with the first ring key down = %v", err)
		}
		if n := r.a.unwraps.Load() - aBefore; n != 1 {
			t.Fatalf("%d calls to the dead key for %d cold keys, want 1: the breaker should defer it", n, tenants)
		}
		if n := r.b.unwraps.Load() - bBefore; n != tenants {
			t.Fatalf("%d unwraps by the second key, want exactly %d (one per cold key)", n, tenants)
		}
		st := s.Stats()
		if st.Failovers != 1 || st.BreakerDeferred != tenants-1 || st.BreakersOpen != 1 {
			t.Fatalf("Stats = failovers %d, deferred %d, open %d; want 1, %d, 1", st.Failovers, st.BreakerDeferred, st.BreakersOpen, tenants-1)
		}

		// A new tenant is created with the copy that succeeded; a new
		// rotation too. AddMasterKey fills the missing copies once a is back.
		if _, err := s.Active(ctxb, "newcomer"); err != nil {
			t.Fatalf("Active(new tenant) with the first ring key down = %v", err)
		}
		if _, err := s.Rotate(ctxb, names[0]); err != nil {
			t.Fatalf("Rotate() with the first ring key down = %v", err)
		}
		wantCopies(t, s, "newcomer", 1, testKEK2)
		wantCopies(t, s, names[0], 2, testKEK2)
		if st := s.Stats(); st.CopiesMissed != 2 {
			t.Fatalf("Stats.CopiesMissed = %d, want 2", st.CopiesMissed)
		}
		r.a.setDown(nil)
		res, err := s.AddMasterKey(ctxb, r.ka)
		if err != nil || res.Added != 2 || res.Skipped != tenants {
			t.Fatalf("AddMasterKey(a) = %+v, %v; want 2 added, %d skipped", res, err, tenants)
		}
		wantCopies(t, s, "newcomer", 1, testKEK2, testKEK)
		wantCopies(t, s, names[0], 2, testKEK2, testKEK)
	})
}

// TestKeyringBreakerProbe: once the cool-down has passed, one cold load
// probes the deferred key again, and a success closes its breaker.
func TestKeyringBreakerProbe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		if tdb.dialect != sqldialect.SQLite {
			t.Skip("one backend is enough: the breaker is the same on every dialect")
		}
		r := newRing(t)
		clock := newFakeClock()
		seed := r.store(t, tdb)
		for _, name := range []string{"t1", "t2", "t3", "t4"} {
			if _, err := seed.active(ctxb, name); err != nil {
				t.Fatal(err)
			}
		}
		s := r.store(t, tdb, withClock(clock.Now), WithTuning(Tuning{BreakerCooldown: time.Minute}))
		r.a.failNext(retryable())
		if _, err := s.lookupKey(ctxb, "t1", 1); err != nil {
			t.Fatal(err)
		}
		a0 := r.a.unwraps.Load()
		if _, err := s.lookupKey(ctxb, "t2", 1); err != nil {
			t.Fatal(err)
		}
		if n := r.a.unwraps.Load() - a0; n != 0 {
			t.Fatalf("%d calls to a within the cool-down, want 0", n)
		}
		clock.Advance(time.Minute)
		if _, err := s.lookupKey(ctxb, "t3", 1); err != nil {
			t.Fatal(err)
		}
		if n := r.a.unwraps.Load() - a0; n != 1 {
			t.Fatalf("%d calls to a after the cool-down, want 1 probe", n)
		}
		if st := s.Stats(); st.BreakersOpen != 0 {
			t.Fatalf("Stats.BreakersOpen = %d after a successful probe, want 0", st.BreakersOpen)
		}
		b0 := r.b.unwraps.Load()
		if _, err := s.lookupKey(ctxb, "t4", 1); err != nil {
			t.Fatal(err)
		}
		if r.b.unwraps.Load() != b0 {
			t.Fatalf("b called with a healthy again, want a (first in the ring) only")
		}
	})
}

// TestKeyringCopyChecks: a copy that does not unwrap (tampered with in the
// table) fails over to the next, and a copy naming a master key the
// application did not configure is never opened.
func TestKeyringCopyChecks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		seed := r.store(t, tdb)
		if _, err := seed.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		raw := readRaw(t, tdb, "acme", 1)
		bad := slices.Clone(raw.wrapped)
		bad[len(bad)-1] ^= 1
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET wrapped_dek = ? WHERE tenant_id = ? AND version = 1`), bad, "acme"); err != nil {
			t.Fatal(err)
		}
		s := r.store(t, tdb)
		if _, err := s.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatalf("Key() with the row's own copy tampered = %v, want the copy under b", err)
		}
		if st := s.Stats(); st.Failovers != 1 || st.BreakersOpen != 0 {
			t.Fatalf("Stats = %+v, want one failover and no breaker opened (a bad blob is not an outage)", st)
		}

		// A store with a only: the row's copy is bad and b's copy names a
		// key it does not have. It must fail, and never call b.
		b0 := r.b.unwraps.Load()
		onlyA := newTestStore(t, tdb, tdb.db, r.ka)
		if _, err := onlyA.lookupKey(ctxb, "acme", 1); !errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("Key() = %v, want kms.ErrUnwrap", err)
		}
		if r.b.unwraps.Load() != b0 {
			t.Fatal("a copy under an unconfigured master key was opened")
		}
		// A row and copies under unconfigured keys only: ErrUnknownMasterKey.
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET kek_uri = 'test://evil' WHERE tenant_id = ?`), "acme"); err != nil {
			t.Fatal(err)
		}
		onlyA2 := newTestStore(t, tdb, tdb.db, r.ka)
		if _, err := onlyA2.lookupKey(ctxb, "acme", 1); !errors.Is(err, ErrUnknownMasterKey) {
			t.Fatalf("Key() = %v, want ErrUnknownMasterKey", err)
		}
	})
}

// TestKeyringShredDeletesEveryCopy: Shred and DestroyVersion delete the
// copies in the copies table with the key rows: crypto-shredding leaves no
// wrapped copy under any master key.
func TestKeyringShredDeletesEveryCopy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		s := r.store(t, tdb)
		for _, name := range []string{"acme", "globex"} {
			if _, err := s.Active(ctxb, name); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rotate(ctxb, name); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DestroyVersion(ctxb, "acme", 1); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tdb.db.QueryRow(tdb.q(`SELECT COUNT(*) FROM {keys}_wraps WHERE tenant_id = ? AND version = 1`), "acme").Scan(&n); err != nil || n != 0 {
			t.Fatalf("copies of a destroyed version = %d, %v; want 0", n, err)
		}
		if n := copiesOf(t, tdb, "acme"); n != 1 {
			t.Fatalf("copies of acme = %d after destroying v1, want v2's 1", n)
		}
		if err := s.Shred(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if n := copiesOf(t, tdb, "acme"); n != 0 {
			t.Fatalf("copies of a shredded tenant = %d, want 0", n)
		}
		if n := copiesOf(t, tdb, "globex"); n != 2 {
			t.Fatalf("copies of another tenant = %d after a shred, want 2", n)
		}
		wantCopies(t, s, "acme", 2)
		// Neither master key opens anything of acme any more.
		for _, kp := range []*kms.Keeper{r.ka, r.kb} {
			other := newTestStore(t, tdb, tdb.db, kp)
			if _, err := other.lookupKey(ctxb, "acme", 2); !errors.Is(err, ErrKeyDestroyed) {
				t.Fatalf("Key(shredded) = %v, want ErrKeyDestroyed", err)
			}
		}
	})
}

// TestKeyringAddRemove: moving a deployment from master key a to b by
// AddMasterKey and RemoveMasterKey keeps every value readable; the last
// copy of a key is never removed.
func TestKeyringAddRemove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		old := newTestStore(t, tdb, tdb.db, r.ka)
		type sealed struct {
			tenant  string
			version uint32
			value   []byte
		}
		var values []sealed
		seal := func(s *Store, tenant string) {
			c, err := s.ActiveCipher(ctxb, tenant, "patients", "name")
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.Seal(nil, []byte("secret of "+tenant))
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, sealed{tenant, c.Version(), v})
		}
		for i := range 5 {
			seal(old, fmt.Sprintf("t%d", i))
		}
		if _, err := old.Rotate(ctxb, "t0"); err != nil {
			t.Fatal(err)
		}
		seal(old, "t0")

		both := r.store(t, tdb)
		res, err := both.AddMasterKey(ctxb, r.kb)
		if err != nil || res.Scanned != 6 || res.Added != 6 {
			t.Fatalf("AddMasterKey(b) = %+v, %v; want 6 scanned, 6 added", res, err)
		}
		if res, err := both.AddMasterKey(ctxb, r.kb); err != nil || res.Added != 0 || res.Skipped != 6 {
			t.Fatalf("AddMasterKey(b) again = %+v, %v; want all 6 skipped", res, err)
		}
		wantCopies(t, both, "t0", 2, testKEK, testKEK2)

		// A key made meanwhile by a process still on a alone: its only
		// copy is under a, which RemoveMasterKey must refuse to remove.
		seal(old, "late")

		// The new deployment: b first, a still readable.
		next := newTestStore(t, tdb, tdb.db, r.kb, WithMasterKeys(r.ka))
		if _, err := next.RemoveMasterKey(ctxb, r.kb); err == nil {
			t.Fatal("RemoveMasterKey of the Store's own ring key succeeded")
		}
		res, err = next.RemoveMasterKey(ctxb, r.ka)
		var last *LastCopyError
		if !errors.As(err, &last) || !errors.Is(err, ErrLastCopy) || len(last.Keys) != 1 || last.Keys[0] != (KeyRef{"late", 1}) {
			t.Fatalf("RemoveMasterKey(a) = %v, want a LastCopyError naming late v1", err)
		}
		if res.Removed != 6 || res.Promoted != 6 {
			t.Fatalf("RemoveMasterKey(a) = %+v, want 6 removed, 6 promoted", res)
		}
		wantCopies(t, next, "t0", 2, testKEK2)
		wantCopies(t, next, "late", 1, testKEK)
		if n := copiesOf(t, tdb, ""); n != 0 {
			t.Fatalf("%d rows left in the copies table, want 0 (the promoted copies moved to the key rows)", n)
		}

		// Every value sealed before opens with b alone; late with a.
		onlyB := newTestStore(t, tdb, tdb.db, r.kb)
		aBefore := r.a.unwraps.Load()
		for _, v := range values {
			s := onlyB
			if v.tenant == "late" {
				s = newTestStore(t, tdb, tdb.db, r.ka)
			}
			c, err := s.Cipher(ctxb, v.tenant, v.version, "patients", "name")
			if err != nil {
				t.Fatalf("Cipher(%s v%d) = %v", v.tenant, v.version, err)
			}
			if got, err := c.Open(nil, v.value); err != nil || string(got) != "secret of "+v.tenant {
				t.Fatalf("Open(%s v%d) = %q, %v", v.tenant, v.version, got, err)
			}
		}
		if n := r.a.unwraps.Load() - aBefore; n != 1 {
			t.Fatalf("%d unwraps by a, want 1 (late's only)", n)
		}
		events, err := next.AuditEvents(ctxb, "")
		if err != nil {
			t.Fatal(err)
		}
		var adds, removes int
		for _, e := range events {
			switch e.Operation {
			case opAddMasterKey:
				adds++
			case opRemoveMasterKey:
				removes++
			}
		}
		if adds != 6 || removes != 6 {
			t.Fatalf("audit trail: %d add-master-key, %d remove-master-key events; want 6 and 6", adds, removes)
		}
		if _, err := next.VerifyAudit(ctxb); err != nil {
			t.Fatalf("VerifyAudit() = %v", err)
		}
	})
}

// TestKeyringAddSkipsShredded: AddMasterKey never writes a copy of a key
// destroyed while it ran, and deletes copies an older release's Shred left
// behind.
func TestKeyringAddSkipsShredded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		s := r.store(t, tdb)
		for _, name := range []string{"acme", "globex"} {
			if _, err := s.Active(ctxb, name); err != nil {
				t.Fatal(err)
			}
		}
		// An older release's shred: key rows destroyed, copies untouched.
		if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET state = 'destroyed', wrapped_dek = NULL WHERE tenant_id = ?`), "globex"); err != nil {
			t.Fatal(err)
		}
		c := newInsecureTestKMS(t)
		res, err := s.AddMasterKey(ctxb, c.keeper("test://kek-c"))
		if err != nil || res.Added != 1 || res.Orphans != 1 {
			t.Fatalf("AddMasterKey(c) = %+v, %v; want 1 added, 1 orphan deleted", res, err)
		}
		if n := copiesOf(t, tdb, "globex"); n != 0 {
			t.Fatalf("copies of a shredded tenant = %d, want 0", n)
		}
		wantCopies(t, s, "acme", 1, testKEK, testKEK2, "test://kek-c")
	})
}

// TestKeyringSlowFirstKey: a first ring key that does not answer costs
// one per-call timeout, after which its breaker sends every cold load to
// the second key.
func TestKeyringSlowFirstKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		seed := r.store(t, tdb)
		names := []string{"t1", "t2", "t3", "t4", "t5"}
		for _, name := range names {
			if _, err := seed.active(ctxb, name); err != nil {
				t.Fatal(err)
			}
		}
		gate := make(chan struct{}) // never closed: a's unwraps hang until their timeout
		r.a.setGate(gate)
		s := r.store(t, tdb, WithTuning(Tuning{KMSTimeout: 20 * time.Millisecond}))
		a0, b0 := r.a.unwraps.Load(), r.b.unwraps.Load()
		for _, name := range names {
			if _, err := s.lookupKey(ctxb, name, 1); err != nil {
				t.Fatalf("Key(%s) with the first ring key hanging = %v", name, err)
			}
		}
		if n := r.a.unwraps.Load() - a0; n != 1 {
			t.Fatalf("%d calls to the hanging key for %d cold keys, want 1", n, len(names))
		}
		if n := r.b.unwraps.Load() - b0; n != int64(len(names)) {
			t.Fatalf("%d unwraps by the second key, want %d", n, len(names))
		}
		if st := s.Stats(); st.BreakersOpen != 1 {
			t.Fatalf("Stats.BreakersOpen = %d, want 1", st.BreakersOpen)
		}
	})
}

// TestKeyringRewrap: Rewrap moves the key row's copy; a copy already
// under the target is dropped from the copies table (the row holds it
// now), and the key still opens.
func TestKeyringRewrap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		r := newRing(t)
		s := r.store(t, tdb)
		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		c := newInsecureTestKMS(t)
		kc := c.keeper("test://kek-c")
		if res, err := s.Rewrap(ctxb, kc, RewrapOptions{}); err != nil || res.Rewrapped != 1 {
			t.Fatalf("Rewrap(c) = %+v, %v", res, err)
		}
		wantCopies(t, s, "acme", 1, "test://kek-c", testKEK2)
		if res, err := s.Rewrap(ctxb, r.kb, RewrapOptions{}); err != nil || res.Rewrapped != 1 {
			t.Fatalf("Rewrap(b) = %+v, %v", res, err)
		}
		wantCopies(t, s, "acme", 1, testKEK2)
		onlyB := newTestStore(t, tdb, tdb.db, r.kb)
		k2, err := onlyB.lookupKey(ctxb, "acme", 1)
		if err != nil {
			t.Fatal(err)
		}
		sealOpen(t, k, k2)
	})
}
