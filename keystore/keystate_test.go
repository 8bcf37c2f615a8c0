package keystore

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/codec"
)

// recorder collects a Store's observer events and log records.
type recorder struct {
	mu      sync.Mutex
	events  []Event
	records []slog.Record
}

func (r *recorder) observe(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) kinds(k eventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) errorRecords() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level >= slog.LevelError {
			n++
		}
	}
	return n
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) opts() []Option {
	return []Option{WithTelemetry(Telemetry{Observer: r.observe}), WithTelemetry(Telemetry{Logger: slog.New(r)})}
}

// sealVersion seals a value for tenant's patients.name with ActiveCipher
// and returns the version it was sealed under.
func sealVersion(t *testing.T, s *Store, tenant string) (uint32, []byte) {
	t.Helper()
	c, err := s.ActiveCipher(ctxb, tenant, "patients", "name")
	if err != nil {
		t.Fatalf("ActiveCipher(%s) = %v", tenant, err)
	}
	v, err := c.Seal(nil, []byte("new value"))
	if err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	return c.Version(), v
}

// TestStateFlippedBySQL: someone who writes the key table marks an old
// version active and the newest retired, or leaves no row active. New
// values are still sealed under the highest live version, the
// disagreement is reported, and no new version is made.
func TestStateFlippedBySQL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := s.Rotate(ctxb, "acme"); err != nil {
				t.Fatal(err)
			}
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := tdb.db.Exec(tdb.q(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`UPDATE {keys} SET state = 'retired' WHERE tenant_id = ? AND version = 3`, "acme")
		exec(`UPDATE {keys} SET state = 'active' WHERE tenant_id = ? AND version = 1`, "acme")

		var rec recorder
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), rec.opts()...)
		if v, _ := sealVersion(t, fresh, "acme"); v != 3 {
			t.Fatalf("ActiveCipher(acme) with v1 marked active, v3 retired seals under v%d, want v3", v)
		}
		ev := rec.kinds(eventStateMismatch)
		if len(ev) != 1 || ev[0].Version != 3 || ev[0].Tenant != "acme" || !errors.Is(ev[0].Err, errStateMismatch) {
			t.Fatalf("state mismatch events = %+v, want one for acme v3", ev)
		}
		if rec.errorRecords() != 1 {
			t.Fatalf("error-level log records = %d, want 1", rec.errorRecords())
		}

		// No row active at all: still v3, reported, and no v4 created.
		exec(`UPDATE {keys} SET state = 'retired' WHERE tenant_id = ? AND version = 1`, "acme")
		var rec2 recorder
		fresh2 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), rec2.opts()...)
		wraps := drv.wraps.Load()
		if v, _ := sealVersion(t, fresh2, "acme"); v != 3 {
			t.Fatalf("ActiveCipher(acme) with no active row seals under v%d, want v3", v)
		}
		if ev := rec2.kinds(eventStateMismatch); len(ev) != 1 || ev[0].Version != 3 {
			t.Fatalf("state mismatch events = %+v, want one for v3", ev)
		}
		if n := countRows(t, tdb, "tenant_id = ?", "acme"); n != 3 || drv.wraps.Load() != wraps {
			t.Fatalf("rows of acme = %d, wraps +%d; want 3 rows and no new key", n, drv.wraps.Load()-wraps)
		}
		// A table that agrees with itself raises nothing.
		var rec3 recorder
		s3 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), rec3.opts()...)
		if v, _ := sealVersion(t, s3, "globex"); v != 1 {
			t.Fatalf("ActiveCipher(globex) = v%d, want v1", v)
		}
		if ev := rec3.kinds(eventStateMismatch); len(ev) != 0 || rec3.errorRecords() != 0 {
			t.Fatalf("events %+v, %d error records for a consistent table; want none", ev, rec3.errorRecords())
		}
	})
}

// TestDeletedKeyRow: deleting a tenant's active row does not make its
// version number free again. The process that saw it reports the
// missing row; values under it fail with a missing-key error, never with
// codec.ErrAuth as a tampered value would.
func TestDeletedKeyRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		opts := []Option{withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute})}
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), opts...)
		if _, err := s.active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		v, sealed := sealVersion(t, s, "acme")
		if v != 2 {
			t.Fatalf("sealed under v%d, want v2", v)
		}
		if _, err := tdb.db.Exec(tdb.q(`DELETE FROM {keys} WHERE tenant_id = ? AND version = 2`), "acme"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)

		_, err := s.active(ctxb, "acme")
		var me *Error
		if !errors.As(err, &me) || !errors.Is(err, ErrKeyNotFound) || me.Highest != 2 || me.Shown != 1 {
			t.Fatalf("Active(acme) after its active row was deleted = %v, want a Error (saw 2, shows 1)", err)
		}
		if _, err := s.Rotate(ctxb, "acme"); !errors.As(err, &me) {
			t.Fatalf("Rotate(acme) after its active row was deleted = %v, want a Error", err)
		}
		if n := countRows(t, tdb, "tenant_id = ? AND version = 2", "acme"); n != 0 {
			t.Fatalf("rows (acme, 2) = %d, want none: version 2 must not be issued again", n)
		}
		// Opening the value sealed under v2 says the key row is missing.
		c, err := s.Cipher(ctxb, "acme", 2, "patients", "name")
		if err == nil {
			_, err = c.Open(nil, sealed)
		}
		if errors.Is(err, codec.ErrAuth) || !errors.As(err, &me) || me.Version != 2 {
			t.Fatalf("opening a v2 value after its row was deleted = %v, want a Error for version 2", err)
		}

		// A process that never saw v2 cannot tell it existed, but it
		// seals under the live v1 rather than create a key.
		var rec recorder
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), append(opts, rec.opts()...)...)
		wraps := drv.wraps.Load()
		if v, _ := sealVersion(t, fresh, "acme"); v != 1 {
			t.Fatalf("fresh ActiveCipher(acme) = v%d, want v1 (highest live)", v)
		}
		if drv.wraps.Load() != wraps || countRows(t, tdb, "tenant_id = ?", "acme") != 1 {
			t.Fatalf("fresh Active created a key while a live row exists")
		}
		if len(rec.kinds(eventStateMismatch)) != 1 {
			t.Fatalf("fresh Active did not report the missing active row")
		}
	})
}

// TestReplacedKeyRow: a key row deleted and issued again (here by a
// process that never saw it) holds another data key under the same
// version. The process that used the earlier key refuses the new one,
// and values under the earlier key fail with an error that says the row
// was replaced, not with codec.ErrAuth.
func TestReplacedKeyRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		clock := newFakeClock()
		opts := []Option{withClock(clock.Now), WithTuning(Tuning{CacheTTL: time.Minute})}
		var rec recorder
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), append(opts, rec.opts()...)...)
		_, sealed := sealVersion(t, s, "acme")
		if _, err := tdb.db.Exec(tdb.q(`DELETE FROM {keys} WHERE tenant_id = ?`), "acme"); err != nil {
			t.Fatal(err)
		}
		fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		if v, _ := sealVersion(t, fresh, "acme"); v != 1 {
			t.Fatalf("fresh ActiveCipher(acme) = v%d, want v1 (it cannot know)", v)
		}
		clock.Advance(time.Minute)

		var me *Error
		c, err := s.Cipher(ctxb, "acme", 1, "patients", "name")
		if err == nil {
			_, err = c.Open(nil, sealed)
		}
		if errors.Is(err, codec.ErrAuth) || !errors.As(err, &me) || !me.Replaced || !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("opening a value under a replaced key row = %v, want a Error (replaced)", err)
		}
		if _, err := s.active(ctxb, "acme"); !errors.As(err, &me) || !me.Replaced {
			t.Fatalf("Active(acme) over a replaced key row = %v, want a Error (replaced)", err)
		}
		if rec.errorRecords() == 0 {
			t.Fatalf("no error-level log record for a replaced key row")
		}
	})
}
