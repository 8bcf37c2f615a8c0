package faulttest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestSlowKMSFailsAtDeadline makes every KMS call take 2s and gives each
// caller 500ms. Every path that needs the KMS (a new tenant's write
// through GORM, a read through GORM with a cold cache, the key store
// directly) returns at the caller's deadline with an error that matches
// context.DeadlineExceeded and names the tenant, leaves nothing written,
// and leaves no goroutine behind: the detached key load, its RPC and the
// fake's handler all end. Once the KMS is fast again the same calls
// succeed, so no failure was cached.
//
// The bound asserted on the elapsed time (1s for a 500ms deadline) is a
// correctness bound on deadline propagation: without it a caller would
// wait the full 2s, or the key store's 30s KMS timeout.
func TestSlowKMSFailsAtDeadline(t *testing.T) {
	const (
		latency  = 2 * time.Second
		deadline = 500 * time.Millisecond
		bound    = time.Second
	)
	srv, kek := startKMS(t)
	dsn := testhelpers.Postgres(t)
	db, raw := openGORM(t, dsn)
	keys := newStore(t, openKeyDB(t, dsn), kek) // default retries and 30s KMS timeout
	usePlugin(t, db, keys)
	migrate(t, db)

	existing := newRecord("slow-existing", "slow-existing-s0", 1)
	if err := db.WithContext(ctxFor(existing.TenantID)).Create(existing).Error; err != nil {
		t.Fatalf("Create(%s) err = %v, want nil", existing.Ref, err)
	}
	// A second process, with a cold cache, for the read paths.
	db2, raw2 := openGORM(t, dsn)
	keys2 := newStore(t, openKeyDB(t, dsn), kek)
	usePlugin(t, db2, keys2)
	if err := raw2.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	cases := []struct {
		name, tenant string
		op           func(ctx context.Context) error
		creates      bool // a new tenant: nothing of it may be written
		// viaGORM: the error may have lost its chain (see deadlineError).
		viaGORM bool
	}{
		{"GORM Create of a new tenant", "slow-new-gorm", func(ctx context.Context) error {
			return db.WithContext(ctx).Create(newRecord("slow-new-gorm", "slow-new-gorm-s0", 1)).Error
		}, true, true},
		{"GORM First with a cold cache", existing.TenantID, func(ctx context.Context) error {
			var got record
			if err := db2.WithContext(ctx).First(&got, existing.ID).Error; err != nil {
				return err
			}
			return got.check()
		}, false, true},
		{"Store.Active of a new tenant", "slow-new-active", func(ctx context.Context) error {
			_, err := keys.Active(ctx, "slow-new-active")
			return err
		}, true, false},
		{"Store.Cipher with a cold cache", existing.TenantID, func(ctx context.Context) error {
			_, err := keys2.Cipher(ctx, existing.TenantID, 1, "records", "name")
			return err
		}, false, false},
	}

	srv.SetFaults(insecurefakekms.Faults{Latency: latency})
	before := goroutines()
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(ctxFor(c.tenant), deadline)
		start := time.Now()
		err := c.op(ctx)
		elapsed := time.Since(start)
		cancel()
		switch {
		case err == nil:
			t.Errorf("%s: err = nil, want context.DeadlineExceeded", c.name)
		case !errors.Is(err, context.DeadlineExceeded) && !(c.viaGORM && deadlineError(err)):
			t.Errorf("%s: err = %v, want context.DeadlineExceeded", c.name, err)
		case kms.IsRetryable(err):
			t.Errorf("%s: kms.IsRetryable(%v) = true, want false: the caller's own deadline passed", c.name, err)
		case !strings.Contains(err.Error(), c.tenant) || !strings.Contains(err.Error(), "keystore"):
			t.Errorf("%s: err = %q, want it to name the key store and tenant %q", c.name, err, c.tenant)
		}
		if elapsed > bound {
			t.Errorf("%s: returned after %v, want within %v of a %v deadline (KMS latency %v)", c.name, elapsed, bound, deadline, latency)
		} else {
			t.Logf("%s: failed after %v", c.name, elapsed.Round(time.Millisecond))
		}
		if c.creates {
			if recs, ks := countRows(t, raw, c.tenant); recs != 0 || ks != 0 {
				t.Errorf("%s: %d records, %d keys of tenant %s, want 0, 0", c.name, recs, ks, c.tenant)
			}
		}
	}
	checkNoLeak(t, before, 5*time.Second)

	srv.SetFaults(insecurefakekms.Faults{})
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(ctxFor(c.tenant), 10*time.Second)
		if err := c.op(ctx); err != nil {
			t.Errorf("%s, once the KMS is fast: err = %v, want nil", c.name, err)
		}
		cancel()
	}
}

// TestSlowKMSCallTimeout gives the caller time but bounds each KMS call
// (WithKMSTimeout) below the KMS's latency: every attempt times out, is
// retried as the KMS's fault, and the caller gets a retryable error after
// exactly maxAttempts calls, long before its own deadline.
func TestSlowKMSCallTimeout(t *testing.T) {
	const (
		latency     = 2 * time.Second
		callTimeout = 200 * time.Millisecond
		maxAttempts = 3
		callerWait  = 10 * time.Second
		// attempts × timeout plus at most 2 × 20ms of backoff, and slack.
		bound = maxAttempts*callTimeout + 40*time.Millisecond + time.Second
	)
	srv, kek := startKMS(t)
	raw := testhelpers.OpenPostgres(t)
	if err := keystore.CreateTable(context.Background(), raw, keystore.WithDialect("postgres")); err != nil {
		t.Fatalf("keystore.CreateTable: %v", err)
	}
	keys := newStore(t, raw, kek,
		keystore.WithTuning(keystore.Tuning{KMSTimeout: callTimeout}),
		keystore.WithTuning(keystore.Tuning{KMSAttempts: maxAttempts, KMSRetryBase: 10 * time.Millisecond, KMSRetryMax: 20 * time.Millisecond}))

	srv.SetFaults(insecurefakekms.Faults{Latency: latency})
	enc0, _ := srv.Calls()
	before := goroutines()
	ctx, cancel := context.WithTimeout(context.Background(), callerWait)
	start := time.Now()
	_, err := keys.Active(ctx, "slow-call")
	elapsed := time.Since(start)
	cancel()

	var ke *keystore.Error
	switch {
	case !kms.IsRetryable(err):
		t.Errorf("Active(slow-call) err = %v, want a retryable error", err)
	case !errors.As(err, &ke) || ke.Attempts != maxAttempts:
		t.Errorf("Active(slow-call) err = %v, want a *keystore.Error after %d attempts", err, maxAttempts)
	}
	if enc, _ := srv.Calls(); enc-enc0 != maxAttempts {
		t.Errorf("fake Encrypt calls = %d, want %d", enc-enc0, maxAttempts)
	}
	if elapsed > bound {
		t.Errorf("Active(slow-call) returned after %v, want within %v (%d attempts of %v)", elapsed, bound, maxAttempts, callTimeout)
	}
	checkNoLeak(t, before, 5*time.Second)
}
