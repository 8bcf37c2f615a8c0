package keystore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/kms"
)

// coldStore returns a Store on tdb that has not cached acme's key, which
// another process created.
func coldStore(t *testing.T, tdb *testDB, drv *insecureTestKMS, opts ...Option) *Store {
	t.Helper()
	creator := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	if _, err := creator.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	return newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), opts...)
}

func TestRetry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		for _, tc := range []struct {
			name                          string
			faults                        []error
			wantErr                       bool
			wantRetryable                 bool
			unwraps, errs, retries, tries uint64
		}{
			{"success", nil, false, false, 1, 0, 0, 0},
			{"two retryable then success", []error{retryable(), retryable()}, false, false, 3, 2, 2, 0},
			{"retryable until attempts run out", []error{retryable(), retryable(), retryable(), retryable()}, true, true, 4, 4, 3, 4},
			{"non-retryable fails fast", []error{errTestDenied}, true, false, 1, 1, 0, 1},
			{"retryable then non-retryable", []error{retryable(), errTestDenied}, true, false, 2, 2, 1, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := coldStore(t, tdb, drv, WithTuning(Tuning{KMSAttempts: 4, KMSRetryBase: time.Millisecond, KMSRetryMax: 2 * time.Millisecond}))
				drv.failNext(tc.faults...)
				_, err := s.lookupKey(ctxb, "acme", 1)
				if (err != nil) != tc.wantErr {
					t.Fatalf("Key(acme, 1) = %v, want error %v", err, tc.wantErr)
				}
				if err != nil {
					var ke *Error
					if !errors.As(err, &ke) || ke.Op != "unwrap" || ke.Tenant != "acme" || ke.Version != 1 || ke.KEKURI != testKEK || uint64(ke.Attempts) != tc.tries {
						t.Fatalf("Key(acme, 1) = %#v, want a Error for acme v1 after %d attempts", err, tc.tries)
					}
					if kms.IsRetryable(err) != tc.wantRetryable {
						t.Fatalf("kms.IsRetryable(%v) = %v, want %v", err, !tc.wantRetryable, tc.wantRetryable)
					}
				}
				st := s.Stats()
				if st.KMSUnwraps != tc.unwraps || st.KMSErrors != tc.errs || st.KMSRetries != tc.retries {
					t.Fatalf("Stats() = %+v, want %d unwraps, %d errors, %d retries", st, tc.unwraps, tc.errs, tc.retries)
				}
			})
		}
	})
}

// TestRetryDeadline: a backoff never sleeps past the caller's deadline.
// With hour-long backoffs, these calls return only because it is
// respected.
func TestRetryDeadline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := coldStore(t, tdb, drv, WithTuning(Tuning{KMSAttempts: 100, KMSRetryBase: time.Hour, KMSRetryMax: time.Hour}))
		s.jitter = func(n int64) int64 { return n - 1 } // always the full backoff
		drv.setDown(retryable())

		// Rotate calls the KMS under the caller's ctx: it sees that the
		// backoff would end past the deadline and returns the KMS error
		// instead of sleeping.
		ctx, cancel := context.WithTimeout(ctxb, time.Minute)
		defer cancel()
		_, err := s.Rotate(ctx, "acme")
		var ke *Error
		if !errors.As(err, &ke) || !kms.IsRetryable(err) || ke.Attempts != 1 {
			t.Fatalf("Rotate with the KMS down = %v, want a retryable Error after 1 attempt", err)
		}
		if st := s.Stats(); st.KMSWraps != 1 || st.KMSRetries != 0 {
			t.Fatalf("Stats() = %+v, want 1 wrap, no retry", st)
		}

		// Active shares its load: the caller leaves at its deadline, and
		// the load, with nobody left waiting, is cancelled mid-sleep.
		ctx2, cancel2 := context.WithTimeout(ctxb, 50*time.Millisecond)
		defer cancel2()
		s2 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), WithTuning(Tuning{KMSAttempts: 100, KMSRetryBase: time.Hour, KMSRetryMax: time.Hour}))
		if _, err := s2.active(ctx2, "acme"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Active(ctx with deadline) = %v, want context.DeadlineExceeded", err)
		}
		waitFor(t, "the abandoned load to stop", func() bool { return s2.flights.running() == 0 })
	})
}

// TestKMSTimeout: a KMS call that hangs is cut by Tuning.KMSTimeout and
// retried as transient.
func TestKMSTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := coldStore(t, tdb, drv, WithTuning(Tuning{KMSTimeout: 10 * time.Millisecond}), WithTuning(Tuning{KMSAttempts: 3, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}))
		gate := make(chan struct{})
		drv.setGate(gate)
		defer close(gate)
		_, err := s.lookupKey(ctxb, "acme", 1)
		var ke *Error
		if !errors.As(err, &ke) || ke.Attempts != 3 || !kms.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Key with a hanging KMS = %v, want a retryable Error after 3 attempts", err)
		}
		if st := s.Stats(); st.KMSUnwraps != 3 || st.KMSRetries != 2 {
			t.Fatalf("Stats() = %+v, want 3 unwraps, 2 retries", st)
		}
	})
}

// TestUnwrapBinding: a wrapped key only unwraps in its own row. Copied to
// another tenant or version, or altered, it fails with kms.ErrUnwrap.
func TestUnwrapBinding(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		for _, tn := range []string{"acme", "globex"} {
			if _, err := s.active(ctxb, tn); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		acme1 := readRaw(t, tdb, "acme", 1).wrapped
		flipped := append([]byte(nil), acme1...)
		flipped[len(flipped)-1] ^= 1
		for _, tc := range []struct {
			name    string
			tenant  string
			version uint32
			wrapped []byte
		}{
			{"another tenant's key", "globex", 1, acme1},
			{"another version's key", "acme", 2, acme1},
			{"a flipped bit", "acme", 1, flipped},
			{"truncated", "acme", 1, acme1[:10]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET wrapped_dek = ? WHERE tenant_id = ? AND version = ?`), tc.wrapped, tc.tenant, int64(tc.version)); err != nil {
					t.Fatal(err)
				}
				fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
				_, err := fresh.lookupKey(ctxb, tc.tenant, tc.version)
				if !errors.Is(err, kms.ErrUnwrap) || kms.IsRetryable(err) {
					t.Fatalf("Key(%s, %d) = %v, want kms.ErrUnwrap", tc.tenant, tc.version, err)
				}
				if st := fresh.Stats(); st.KMSUnwraps != 1 {
					t.Fatalf("unwraps = %d, want 1 (no retry of an authentication failure)", st.KMSUnwraps)
				}
			})
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct{ base, max time.Duration }{
		{10 * time.Millisecond, 300 * time.Millisecond},
		{time.Hour, 100 * time.Hour},
		{time.Nanosecond, time.Duration(1<<63 - 1)},
	} {
		s := &Store{base: tc.base, max: tc.max}
		for n := 1; n < 100; n++ {
			ceil := tc.max
			if n <= 2 {
				ceil = min(tc.max, tc.base*time.Duration(n))
			}
			for range 100 {
				if d := s.backoff(n); d < 0 || d > ceil {
					t.Fatalf("backoff(%d) with base %v, max %v = %v, want in [0, %v]", n, tc.base, tc.max, d, ceil)
				}
			}
		}
		s.jitter = func(n int64) int64 { return min(n-1, int64(tc.max)) }
		if d := s.backoff(1); d != tc.base {
			t.Fatalf("backoff(1) at full jitter = %v, want base %v", d, tc.base)
		}
		want := tc.max
		if want == 1<<63-1 {
			want-- // [0, MaxInt64] has no uniform int64 draw; the top value is dropped
		}
		if d := s.backoff(99); d != want {
			t.Fatalf("backoff(99) at full jitter = %v, want %v", d, want)
		}
	}
}

// TestWaiterSeesKMSError checks that a caller whose deadline ends while a
// shared key load is still retrying a failing KMS gets an error that says
// both: its deadline passed, and the KMS was failing (retryably).
func TestWaiterSeesKMSError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := coldStore(t, tdb, drv, WithTuning(Tuning{KMSAttempts: 1000, KMSRetryBase: 20 * time.Millisecond, KMSRetryMax: 40 * time.Millisecond}))
		drv.setDown(retryable())
		ctx, cancel := context.WithTimeout(ctxb, 300*time.Millisecond)
		defer cancel()
		_, err := s.lookupKey(ctx, "acme", 1)
		var ke *Error
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ke) || !kms.IsRetryable(err) {
			t.Fatalf("Key(acme, 1) with the KMS down past the deadline = %v, want DeadlineExceeded and a retryable Error", err)
		}
	})
}
