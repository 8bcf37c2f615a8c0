package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/kms"
)

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func TestCacheTTL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := creator.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}))

		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		c, _ := k.Cipher("patients", "name")
		clock.Advance(time.Minute - time.Nanosecond)
		if k2, _ := s.active(ctxb, "acme"); k2 != k {
			t.Fatalf("Active within TTL returned another key")
		}
		if k2, _ := s.lookupKey(ctxb, "acme", 1); k2 != k {
			t.Fatalf("Key within TTL returned another key")
		}
		if st := s.Stats(); st.KMSUnwraps != 1 {
			t.Fatalf("unwraps within TTL = %d, want 1", st.KMSUnwraps)
		}
		clock.Advance(time.Nanosecond)
		k3, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.KMSUnwraps != 2 {
			t.Fatalf("unwraps after TTL = %d, want 2 (the refresh asks the KMS again)", st.KMSUnwraps)
		}
		// The refresh found the same key: the Key, and its ciphers, live on.
		if k3 != k || k.zeroed() {
			t.Fatalf("refresh replaced or zeroed the cached key")
		}
		if c3, _ := k3.Cipher("patients", "name"); c3 != c {
			t.Fatalf("refresh dropped the derived cipher")
		}
		// Key after TTL refreshes too.
		clock.Advance(time.Minute)
		if _, err := s.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.KMSUnwraps != 3 {
			t.Fatalf("unwraps after the second TTL = %d, want 3", st.KMSUnwraps)
		}
	})
}

// TestCacheLRU: the size bound holds, the least recently used key goes
// first, and an evicted key's ciphers keep working, deriving subkeys on
// first use from its data key, which is zeroed once they are collected.
func TestCacheLRU(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), WithTuning(Tuning{CacheMaxKeys: 3}))
		keys := map[string]*dataKey{}
		deks := map[string][]byte{}
		for _, tn := range []string{"t1", "t2", "t3"} {
			k, err := s.active(ctxb, tn)
			if err != nil {
				t.Fatal(err)
			}
			keys[tn], deks[tn] = k, heldDEK(k)
		}
		c2, _ := keys["t2"].Cipher("patients", "name")
		sealed, _ := c2.Seal(nil, []byte("kept"))
		// t1 is used again; t2 is now the least recently used.
		if _, err := s.active(ctxb, "t1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.active(ctxb, "t4"); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Cached != 3 || st.Evictions != 1 {
			t.Fatalf("Stats() = %+v, want 3 cached, 1 eviction", st)
		}
		if !keys["t2"].zeroed() {
			t.Fatalf("evicted key t2 not dropped")
		}
		if allZero(deks["t2"]) {
			t.Fatalf("evicted key t2's data key zeroed while its cipher is held")
		}
		for _, tn := range []string{"t1", "t3"} {
			if keys[tn].zeroed() {
				t.Fatalf("key %s zeroed, want t2 evicted instead", tn)
			}
		}
		if _, err := keys["t2"].Cipher("patients", "email"); !errors.Is(err, ErrKeyEvicted) {
			t.Fatalf("Cipher on an evicted key = %v, want ErrKeyEvicted", err)
		}
		if pt, err := c2.Open(nil, sealed); err != nil || string(pt) != "kept" {
			t.Fatalf("Open with a cipher of an evicted key = %q, %v; want it to keep working", pt, err)
		}
		det, err := c2.SealDeterministic(nil, []byte("kept"))
		if err != nil {
			t.Fatalf("first SealDeterministic with a cipher of an evicted key = %v; want it to derive its subkey", err)
		}
		if pt, err := c2.Open(nil, det); err != nil || string(pt) != "kept" {
			t.Fatalf("Open(deterministic) with a cipher of an evicted key = %q, %v", pt, err)
		}
		// c2 is not used again: the last holder of t2's cipher has let go.
		for deadline := time.Now().Add(10 * time.Second); !allZero(deks["t2"]); {
			if time.Now().After(deadline) {
				t.Fatal("evicted key t2's data key not zeroed after its cipher was collected")
			}
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		// Asking again loads it again (an unwrap), within the bound.
		k2, err := s.active(ctxb, "t2")
		if err != nil || k2 == keys["t2"] {
			t.Fatalf("Active(t2) after eviction = %p, %v; want a new Key", k2, err)
		}
		if pt, err := mustCipher(t, k2).Open(nil, sealed); err != nil || string(pt) != "kept" {
			t.Fatalf("reloaded key cannot open = %v", err)
		}
		for range 20 {
			for _, tn := range []string{"t5", "t6", "t7", "t1"} {
				if _, err := s.active(ctxb, tn); err != nil {
					t.Fatal(err)
				}
				if n := s.Stats().Cached; n > 3 {
					t.Fatalf("cached keys = %d, want ≤ 3", n)
				}
			}
		}
	})
}

func mustCipher(t testing.TB, k *dataKey) interface {
	Open(dst, value []byte) ([]byte, error)
} {
	t.Helper()
	c, err := k.Cipher("patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCacheSweep: the janitor's sweep zeroes keys whose TTL (and grace)
// passed, even if nobody asks for them again.
func TestCacheSweep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{StaleGrace: time.Minute}))
		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		dek := heldDEK(k)
		clock.Advance(time.Minute)
		if n := s.cache.sweep(s.clock.precise()); n != 0 || k.zeroed() {
			t.Fatalf("sweep within the grace removed %d keys, want 0", n)
		}
		clock.Advance(time.Minute)
		if n := s.cache.sweep(s.clock.precise()); n != 1 {
			t.Fatalf("sweep after TTL+grace removed %d keys, want 1", n)
		}
		if !k.zeroed() || !allZero(dek) {
			t.Fatalf("swept key not zeroed")
		}
		if st := s.Stats(); st.Cached != 0 || st.Evictions != 1 {
			t.Fatalf("Stats() = %+v, want 0 cached, 1 eviction", st)
		}
	})
}

// TestCacheSingleflight: 100 goroutines asking for a cold tenant cause one
// table read and one KMS call.
func TestCacheSingleflight(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := creator.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := creator.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			call func(s *Store) (*dataKey, error)
			fk   flightKey
		}{
			{"Active", func(s *Store) (*dataKey, error) { return s.active(ctxb, "acme") }, flightKey{kind: flightActive, tenant: "acme"}},
			{"Key", func(s *Store) (*dataKey, error) { return s.lookupKey(ctxb, "acme", 1) }, flightKey{kind: flightVersion, tenant: "acme", version: 1}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				const n = 100
				s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
				gate := make(chan struct{})
				drv.setGate(gate)
				defer drv.setGate(nil)
				got := make([]*dataKey, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						got[i], errs[i] = tc.call(s)
					}()
				}
				waitFor(t, "100 waiters on one load", func() bool {
					s.flights.mu.Lock()
					defer s.flights.mu.Unlock()
					f := s.flights.m[tc.fk]
					return f != nil && f.waiters == n
				})
				close(gate)
				wg.Wait()
				for i := range n {
					if errs[i] != nil || got[i] != got[0] {
						t.Fatalf("call %d = %p, %v; want the shared key", i, got[i], errs[i])
					}
				}
				if st := s.Stats(); st.KMSUnwraps != 1 || st.Misses != n || st.Hits != 0 {
					t.Fatalf("Stats() = %+v, want 1 unwrap, %d misses", st, n)
				}
			})
		}
	})
}

// TestFlightWaitersLeave: a waiter gives up on its own ctx without
// failing the others; when the last one leaves, the load is cancelled.
func TestFlightWaitersLeave(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := creator.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		gate := make(chan struct{})
		drv.setGate(gate)
		defer drv.setGate(nil)
		fk := flightKey{kind: flightActive, tenant: "acme"}
		waiters := func() int {
			s.flights.mu.Lock()
			defer s.flights.mu.Unlock()
			if f := s.flights.m[fk]; f != nil {
				return f.waiters
			}
			return 0
		}

		impatient, cancel := context.WithCancel(ctxb)
		patientDone := make(chan error, 1)
		impatientDone := make(chan error, 1)
		go func() { _, err := s.active(impatient, "acme"); impatientDone <- err }()
		waitFor(t, "first waiter", func() bool { return waiters() == 1 })
		go func() { _, err := s.active(ctxb, "acme"); patientDone <- err }()
		waitFor(t, "second waiter", func() bool { return waiters() == 2 })
		cancel()
		if err := <-impatientDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("impatient Active = %v, want context.Canceled", err)
		}
		close(gate)
		if err := <-patientDone; err != nil {
			t.Fatalf("patient Active = %v, want its key", err)
		}

		// Alone, a leaving waiter cancels the load.
		s2 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		gate2 := make(chan struct{})
		drv.setGate(gate2)
		defer close(gate2)
		ctx, cancel2 := context.WithCancel(ctxb)
		done := make(chan error, 1)
		calls := drv.unwraps.Load()
		go func() { _, err := s2.active(ctx, "acme"); done <- err }()
		waitFor(t, "the load's KMS call", func() bool { return drv.unwraps.Load() == calls+1 })
		cancel2()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Active = %v, want context.Canceled", err)
		}
		// The Active load, and the key load it waits on, both end.
		waitFor(t, "no load in flight", func() bool { return s2.flights.running() == 0 })
		// The cancelled load stops (its KMS call sees the cancelled ctx)
		// and caches nothing.
		waitFor(t, "cancelled load to fail", func() bool { return s2.Stats().KMSErrors == 1 })
		if n := s2.Stats().Cached; n != 0 {
			t.Fatalf("cached keys after a cancelled load = %d, want 0", n)
		}
	})
}

// TestStaleGrace: with the KMS down, an expired key serves during the
// grace, with a warning, re-probing the KMS; after the grace it fails and
// is zeroed; a KMS that comes back ends the stale period.
func TestStaleGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		var logs bytes.Buffer
		var logMu sync.Mutex
		logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		var events []Event
		creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := creator.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), withClock(clock.Now),
			WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{StaleGrace: 10 * time.Minute}), WithTuning(Tuning{KMSAttempts: 2, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}),
			WithTelemetry(Telemetry{Logger: logger}), WithTelemetry(Telemetry{Observer: func(e Event) {
				if e.Kind == eventStale {
					events = append(events, e)
				}
			}}))
		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		dek := bytes.Clone(heldDEK(k))

		drv.setDown(retryable())
		clock.Advance(time.Minute)
		k2, err := s.active(ctxb, "acme")
		if err != nil || k2 != k {
			t.Fatalf("Active with the KMS down in the grace = %v, %v; want the expired key", k2, err)
		}
		st := s.Stats()
		if st.StaleServed != 1 || st.KMSUnwraps != 3 || st.KMSErrors != 2 || st.KMSRetries != 1 {
			t.Fatalf("Stats() after the first stale serve = %+v, want 1 stale, 3 unwraps, 2 errors, 1 retry", st)
		}
		// Until the next probe (TTL/10 = 6s) it serves without asking the KMS.
		for range 3 {
			if _, err := s.active(ctxb, "acme"); err != nil {
				t.Fatal(err)
			}
		}
		if st := s.Stats(); st.StaleServed != 4 || st.KMSUnwraps != 3 {
			t.Fatalf("Stats() within the probe interval = %+v, want 4 stale, no new unwrap", st)
		}
		clock.Advance(6 * time.Second)
		if _, err := s.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatalf("Key after the probe interval, in the grace = %v", err)
		}
		if st := s.Stats(); st.StaleServed != 5 || st.KMSUnwraps != 5 {
			t.Fatalf("Stats() after a probe = %+v, want 5 stale, 5 unwraps", st)
		}
		if len(events) != 2 || events[0].Tenant != "acme" || events[0].Version != 1 || !kms.IsRetryable(events[0].Err) {
			t.Fatalf("stale events = %+v, want 2 for acme v1", events)
		}
		logMu.Lock()
		out := logs.String()
		logMu.Unlock()
		if !bytes.Contains([]byte(out), []byte("stale grace")) || bytes.Contains([]byte(out), []byte(fmt.Sprintf("%x", dek))) {
			t.Fatalf("warning log = %s; want a stale-grace warning without key bytes", out)
		}

		// Past the grace: the error, and the key is zeroed.
		clock.Advance(10 * time.Minute)
		_, err = s.active(ctxb, "acme")
		if !isKMSError(err) || !kms.IsRetryable(err) {
			t.Fatalf("Active after the grace = %v, want a retryable Error", err)
		}
		if !k.zeroed() {
			t.Fatalf("key not zeroed after its grace")
		}

		// The KMS comes back: a fresh key, counted as hits again.
		drv.setDown(nil)
		k3, err := s.active(ctxb, "acme")
		if err != nil || !k3.sameDEK(dek) {
			t.Fatalf("Active with the KMS back = %v; want the tenant's key", err)
		}
		before := s.Stats()
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if after := s.Stats(); after.Hits != before.Hits+1 || after.StaleServed != before.StaleServed {
			t.Fatalf("Active after recovery counted %+v → %+v, want one hit", before, after)
		}
	})
}

// TestStaleGraceNotForDenied: a non-retryable failure (access revoked)
// drops the expired key at once, grace or not; and without a grace a
// retryable failure fails too.
func TestStaleGraceNotForDenied(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := creator.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			grace time.Duration
			err   error
		}{
			{"denied with grace", time.Hour, errTestDenied},
			{"unavailable without grace", 0, retryable()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clock := newFakeClock()
				s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), withClock(clock.Now),
					WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{StaleGrace: tc.grace}), WithTuning(Tuning{KMSAttempts: 1, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}))
				k, err := s.active(ctxb, "acme")
				if err != nil {
					t.Fatal(err)
				}
				drv.setDown(tc.err)
				defer drv.setDown(nil)
				clock.Advance(time.Minute)
				if _, err := s.active(ctxb, "acme"); !errors.Is(err, tc.err) && !errors.Is(err, errTestUnavailable) {
					t.Fatalf("Active = %v, want the KMS error", err)
				}
				if !k.zeroed() || s.Stats().StaleServed != 0 {
					t.Fatalf("expired key kept (zeroed=%v, stale=%d), want it dropped", k.zeroed(), s.Stats().StaleServed)
				}
			})
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStatsExact walks a script and checks every counter.
func TestStatsExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute}), WithTuning(Tuning{CacheMaxKeys: 2}))
		step := func(name string, f func(), want Stats) {
			t.Helper()
			f()
			want.CachedBytes = int64(want.Cached) * keyBytes // no ciphers
			if got := s.Stats(); got != want {
				t.Fatalf("after %s: Stats() = %+v, want %+v", name, got, want)
			}
		}
		active := func(tn string) func() {
			return func() {
				if _, err := s.active(ctxb, tn); err != nil {
					t.Fatal(err)
				}
			}
		}
		// KMSWraps counts the audit trail's chain key too: one wrap, at
		// the first key operation.
		step("create a", active("a"), Stats{KMSWraps: 2, Misses: 1, Cached: 1})
		step("hit a", active("a"), Stats{KMSWraps: 2, Misses: 1, Hits: 1, Cached: 1})
		step("hit a(1)", func() { s.lookupKey(ctxb, "a", 1) }, Stats{KMSWraps: 2, Misses: 1, Hits: 2, Cached: 1})
		step("miss a(2)", func() { s.lookupKey(ctxb, "a", 2) }, Stats{KMSWraps: 2, Misses: 2, Hits: 2, Cached: 1})
		step("create b", active("b"), Stats{KMSWraps: 3, Misses: 3, Hits: 2, Cached: 2})
		// CLOCK: a was used since it was cached, b was not; b goes.
		step("create c, evict b", active("c"), Stats{KMSWraps: 4, Misses: 4, Hits: 2, Cached: 2, Evictions: 1})
		step("hit a", active("a"), Stats{KMSWraps: 4, Misses: 4, Hits: 3, Cached: 2, Evictions: 1})
		step("reload b, evict c", active("b"), Stats{KMSWraps: 4, KMSUnwraps: 1, Misses: 5, Hits: 3, Cached: 2, Evictions: 2})
		drv.failNext(retryable(), retryable())
		clock.Advance(time.Minute)
		step("refresh b with 2 retries", active("b"), Stats{KMSWraps: 4, KMSUnwraps: 4, KMSErrors: 2, KMSRetries: 2, Misses: 6, Hits: 3, Cached: 2, Evictions: 2})
		drv.failNext(errTestDenied)
		step("a denied: dropped", func() {
			if _, err := s.active(ctxb, "a"); !errors.Is(err, errTestDenied) {
				t.Fatalf("Active(a) with the KMS denying = %v, want errTestDenied", err)
			}
		}, Stats{KMSWraps: 4, KMSUnwraps: 5, KMSErrors: 3, KMSRetries: 2, Misses: 7, Hits: 3, Cached: 1, Evictions: 3})
	})
}

// TestDefaultClock: without withClock the hot path reads the coarse
// clock, which the janitor advances, so a key still expires.
func TestDefaultClock(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	if _, err := creator.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), WithTuning(Tuning{CacheTTL: 20 * time.Millisecond}))
	if s.clock.custom || s.clock.res != time.Millisecond {
		t.Fatalf("clock = custom %v, resolution %v; want the coarse clock at 1ms", s.clock.custom, s.clock.res)
	}
	if _, err := s.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the key to expire and be refreshed", func() bool {
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		return s.Stats().KMSUnwraps >= 2
	})
	if got := newClock(nil, time.Hour).res; got != 100*time.Millisecond {
		t.Fatalf("resolution for a 1h TTL = %v, want 100ms", got)
	}
}

// TestCacheActiveNotUndone: a load that read the tenant's active row
// before a rotation and finishes after it must not make the old version
// active again while the rotation's record is fresh (Rotate promises the
// new key at once); once that record expires, the table is the truth
// again, a lower version included (a restored backup).
func TestCacheActiveNotUndone(t *testing.T) {
	c := newCache(10, 0, new(atomic.Uint64))
	k1, _, err := c.install(keyID{"acme", 1}, newDEK(), 0, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := c.install(keyID{"acme", 2}, newDEK(), 0, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	ttl := int64(time.Minute)
	c.setActive(k1, 0, ttl)
	c.rotated(k2, ttl) // Rotate committed version 2
	c.setActive(k1, 10, 10+ttl)
	if k, _, ok := c.active("acme", 20); !ok || k != k2 {
		t.Fatalf("active after a late load of version 1 = %v, %v; want version 2", k.Version(), ok)
	}
	c.setActive(k1, ttl+1, 2*ttl)
	if k, _, ok := c.active("acme", ttl+2); !ok || k != k1 {
		t.Fatalf("active after version 2's record expired = %v, %v; want version 1 from the table", k.Version(), ok)
	}
}
