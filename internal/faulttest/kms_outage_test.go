package faulttest_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestKMSOutageUnderLoad runs 8 workers reading and writing rows of 50
// tenants through the GORM plugin while the KMS answers UNAVAILABLE for
// the middle third of the run.
//
// What it shows:
//   - tenants whose keys are cached never notice: no error, and the
//     writer's key store makes no KMS call for them after warm-up;
//   - a second process whose cache expires during the outage keeps
//     reading, on expired keys within its stale grace;
//   - a new tenant's write fails inside its deadline with a retryable
//     error and leaves no row and no key behind; through a store whose
//     retries would outlast the deadline, it still returns at the
//     deadline and writes nothing;
//   - a write that keeps retrying through the outage succeeds within one
//     maximum backoff of the KMS coming back (plus slack for the RPC and
//     the insert), and new tenants work again;
//   - at the end every row decrypts to what its worker last wrote, and
//     its blind index and deterministic column find it.
func TestKMSOutageUnderLoad(t *testing.T) {
	total := loadDuration(t)
	outageAt, outageLen := total/3, total/3

	const (
		workers = 8
		tenants = 50
		slots   = 4 // rows per tenant

		opTimeout = 10 * time.Second
		// newTenantDeadline is the deadline of each new tenant's write
		// during the outage; slack is what the bounds allow on top for
		// scheduling, the RPC and the SQL on a loaded two-core machine.
		newTenantDeadline = time.Second
		slack             = 1500 * time.Millisecond

		// The writers' retry budget: 4 attempts sleep at most
		// 20+40+80ms in all, well inside newTenantDeadline, so a new
		// tenant's write ends with the KMS's own (retryable) error.
		writerAttempts = 4
		writerBase     = 20 * time.Millisecond
		writerMax      = 200 * time.Millisecond

		// The patient store retries until the KMS is back.
		patientBase = 20 * time.Millisecond
		maxBackoff  = 500 * time.Millisecond
	)
	// Enough attempts to outlast the outage: the mean sleep is at least
	// half of patientBase.
	patientAttempts := int(outageLen/(patientBase/2)) + 100

	srv, kek := startKMS(t)
	dsn := testhelpers.Postgres(t)
	db, raw := openGORM(t, dsn)

	// The writers' store: its cache outlives the test, so the tenants it
	// has seen need the KMS no more. The observer records which tenants
	// it calls the KMS for once warm-up is over.
	var watching atomic.Bool
	var kmsTenants sync.Map
	keys := newStore(t, openKeyDB(t, dsn), kek,
		keystore.WithTuning(keystore.Tuning{CacheTTL: total + time.Hour}),
		keystore.WithTuning(keystore.Tuning{KMSAttempts: writerAttempts, KMSRetryBase: writerBase, KMSRetryMax: writerMax}),
		keystore.WithTuning(keystore.Tuning{KMSTimeout: 2 * time.Second}),
		keystore.WithTelemetry(keystore.Telemetry{Observer: func(e keystore.Event) {
			if watching.Load() && (e.Kind == "wrap" || e.Kind == "unwrap") {
				kmsTenants.Store(e.Tenant, true)
			}
		}}))
	usePlugin(t, db, keys)
	migrate(t, db)

	// A second process reading the same rows, with a cache that expires
	// several times during the outage and a stale grace longer than the
	// test. Few, quick retries: it relies on the grace, not on waiting.
	staleTTL := outageLen / 4
	db2, _ := openGORM(t, dsn)
	keys2 := newStore(t, openKeyDB(t, dsn), kek,
		keystore.WithTuning(keystore.Tuning{CacheTTL: staleTTL}),
		keystore.WithTuning(keystore.Tuning{StaleGrace: total + time.Minute}),
		keystore.WithTuning(keystore.Tuning{KMSAttempts: 2, KMSRetryBase: 10 * time.Millisecond, KMSRetryMax: 50 * time.Millisecond}),
		keystore.WithTuning(keystore.Tuning{KMSTimeout: time.Second}))
	usePlugin(t, db2, keys2)

	// A third process whose writes retry as long as their callers wait,
	// with backoff up to maxBackoff.
	dbPatient, _ := openGORM(t, dsn)
	usePlugin(t, dbPatient, newStore(t, openKeyDB(t, dsn), kek,
		keystore.WithTuning(keystore.Tuning{KMSAttempts: patientAttempts, KMSRetryBase: patientBase, KMSRetryMax: maxBackoff}),
		keystore.WithTuning(keystore.Tuning{KMSTimeout: 2 * time.Second})))

	// Warm-up: every tenant's rows at rev 1, which creates its key.
	type row struct {
		tenant, ref string
		id          uint
		rev         int
	}
	owned := make([][]*row, workers) // each worker's rows, touched by it alone until Wait
	var all []*row
	for i := range tenants {
		tenant := fmt.Sprintf("warm-%02d", i)
		for s := range slots {
			r := &row{tenant: tenant, ref: fmt.Sprintf("warm-%02d-s%d", i, s), rev: 1}
			rec := newRecord(tenant, r.ref, 1)
			if err := db.WithContext(ctxFor(tenant)).Create(rec).Error; err != nil {
				t.Fatalf("warm-up Create(%s) err = %v, want nil", r.ref, err)
			}
			r.id = rec.ID
			owned[i%workers] = append(owned[i%workers], r)
			all = append(all, r)
		}
	}
	// The stale-grace reader must have seen a tenant's key before the
	// outage for the grace to cover it.
	for _, r := range all {
		var got record
		if err := db2.WithContext(ctxFor(r.tenant)).Where("ref = ?", r.ref).First(&got).Error; err != nil {
			t.Fatalf("warm-up of the stale-grace reader: First(ref %s) err = %v, want nil", r.ref, err)
		}
	}
	watching.Store(true)
	// One data key and one index key wrap per tenant, and one chain key
	// for each key table's audit trail.
	if st := keys.Stats(); st.KMSWraps != 2*tenants+2 || st.KMSErrors != 0 {
		t.Fatalf("after warm-up Stats() = %d wraps, %d errors, want %d, 0", st.KMSWraps, st.KMSErrors, 2*tenants+2)
	}

	// Phases, for counting what happened during the outage.
	const (
		before = iota
		during
		after
	)
	var phase atomic.Int32
	var reads, writes, staleReads [3]atomic.Int64
	var warmErrs, staleErrs failures

	start := time.Now()
	end := start.Add(total)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			rows := owned[w]
			for time.Now().Before(end) {
				r := rows[rng.IntN(len(rows))]
				p := phase.Load()
				ctx, cancel := context.WithTimeout(ctxFor(r.tenant), opTimeout)
				if rng.IntN(2) == 0 {
					rec := newRecord(r.tenant, r.ref, r.rev+1)
					rec.ID = r.id
					res := db.WithContext(ctx).Save(rec)
					switch {
					case res.Error != nil:
						warmErrs.add("phase %d: Save(%s rev %d) err = %v, want nil", p, r.ref, r.rev+1, res.Error)
					case res.RowsAffected != 1:
						warmErrs.add("phase %d: Save(%s) RowsAffected = %d, want 1", p, r.ref, res.RowsAffected)
					default:
						r.rev++
						writes[p].Add(1)
					}
				} else {
					var got record
					err := db.WithContext(ctx).First(&got, r.id).Error
					switch {
					case err != nil:
						warmErrs.add("phase %d: First(%s) err = %v, want nil", p, r.ref, err)
					case got.Rev != r.rev || got.TenantID != r.tenant:
						warmErrs.add("phase %d: First(%s) = rev %d of %q, want rev %d of %q", p, r.ref, got.Rev, got.TenantID, r.rev, r.tenant)
					default:
						if err := got.check(); err != nil {
							warmErrs.add("phase %d: %v", p, err)
						} else {
							reads[p].Add(1)
						}
					}
				}
				cancel()
			}
		}()
	}
	// The stale-grace reader reads rows by Ref; it cannot know their
	// revision, so it checks each row against itself.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 2))
		for time.Now().Before(end) {
			r := all[rng.IntN(len(all))]
			p := phase.Load()
			ctx, cancel := context.WithTimeout(ctxFor(r.tenant), opTimeout)
			var got record
			err := db2.WithContext(ctx).Where("ref = ?", r.ref).First(&got).Error
			cancel()
			switch {
			case err != nil:
				staleErrs.add("phase %d: stale reader First(ref %s) err = %v, want nil", p, r.ref, err)
			case got.TenantID != r.tenant:
				staleErrs.add("phase %d: stale reader First(ref %s) tenant = %q, want %q", p, r.ref, got.TenantID, r.tenant)
			default:
				if err := got.check(); err != nil {
					staleErrs.add("phase %d: stale reader: %v", p, err)
				} else {
					staleReads[p].Add(1)
				}
			}
			time.Sleep(5 * time.Millisecond) // a reader, not a second load
		}
	}()

	// The outage.
	time.Sleep(time.Until(start.Add(outageAt)))
	outageEnd := time.Now().Add(outageLen)
	srv.SetFaults(insecurefakekms.Faults{FailAll: codes.Unavailable})
	phase.Store(during)
	t.Logf("KMS down (UNAVAILABLE) at %v for %v", time.Since(start).Round(time.Millisecond), outageLen)

	// Writes for tenants that start during the outage and keep retrying
	// through it, each with a deadline well past its end.
	type outcome struct {
		tenant string
		err    error
		done   time.Time
	}
	recovering := make(chan outcome, 3)
	for i := range cap(recovering) {
		tenant := fmt.Sprintf("recovering-%d", i)
		go func() {
			ctx, cancel := context.WithDeadline(ctxFor(tenant), outageEnd.Add(opTimeout))
			defer cancel()
			err := dbPatient.WithContext(ctx).Create(newRecord(tenant, tenant+"-s0", 1)).Error
			recovering <- outcome{tenant, err, time.Now()}
		}()
	}

	// A new tenant through the patient store, whose retries would outlast
	// the deadline: the caller still gets its answer at its deadline, and
	// nothing is written. Its error is the context's rather than the
	// KMS's: the key store's loads run detached from any one caller, so
	// the load never sees this caller's deadline and the caller stops
	// waiting at it (keystore's flightGroup.do).
	{
		tenant := "new-during-outage-patient"
		elapsed, err := createWithin(dbPatient, tenant, newTenantDeadline)
		// deadlineError: GORM may have dropped the error's chain.
		if err == nil || !(retryable(err) || errors.Is(err, context.DeadlineExceeded) || deadlineError(err)) {
			t.Errorf("during the outage: patient Create(new tenant %s) err = %v, want a retryable KMS error or context.DeadlineExceeded", tenant, err)
		}
		t.Logf("during the outage: patient Create(new tenant %s) failed after %v: %v", tenant, elapsed.Round(time.Millisecond), err)
		if elapsed > newTenantDeadline+slack {
			t.Errorf("during the outage: patient Create(new tenant %s) took %v, want at most its %v deadline (+%v slack)", tenant, elapsed, newTenantDeadline, slack)
		}
		if recs, ks := countRows(t, raw, tenant); recs != 0 || ks != 0 {
			t.Errorf("after a failed patient Create(new tenant %s): %d records, %d keys, want 0, 0", tenant, recs, ks)
		}
	}

	// New tenants with a short deadline: each must fail in time, with a
	// retryable error, and write nothing.
	probes := 0
	for i := 0; time.Until(outageEnd) > newTenantDeadline+500*time.Millisecond; i++ {
		tenant := fmt.Sprintf("new-during-outage-%d", i)
		elapsed, err := createWithin(db, tenant, newTenantDeadline)
		probes++
		switch {
		case err == nil:
			t.Errorf("during the outage: Create(new tenant %s) err = nil, want a retryable KMS error", tenant)
		case !retryable(err):
			t.Errorf("during the outage: Create(new tenant %s) err = %v, want a *keystore.Error that kms.IsRetryable accepts", tenant, err)
		case status.Code(err) != codes.Unavailable:
			t.Errorf("during the outage: Create(new tenant %s) err = %v, want the Cloud KMS status Unavailable", tenant, err)
		}
		if elapsed > newTenantDeadline+slack {
			t.Errorf("during the outage: Create(new tenant %s) took %v, want at most its %v deadline (+%v slack)", tenant, elapsed, newTenantDeadline, slack)
		}
		if recs, ks := countRows(t, raw, tenant); recs != 0 || ks != 0 {
			t.Errorf("after a failed Create(new tenant %s): %d records, %d keys, want 0, 0", tenant, recs, ks)
		}
		time.Sleep(min(outageLen/5-elapsed, time.Until(outageEnd)))
	}
	if probes == 0 {
		t.Errorf("no new-tenant write was tried during the %v outage", outageLen)
	}
	// The KMS comes back.
	time.Sleep(time.Until(outageEnd))
	back := time.Now()
	srv.SetFaults(insecurefakekms.Faults{})
	phase.Store(after)
	t.Logf("KMS back at %v", time.Since(start).Round(time.Millisecond))

	for range cap(recovering) {
		o := <-recovering
		if o.err != nil {
			t.Errorf("Create(%s), retrying through the outage, err = %v, want nil once the KMS is back", o.tenant, o.err)
			continue
		}
		// The caller was asleep for at most one maximum backoff when the
		// KMS came back, then needed one wrap and one insert.
		if took := o.done.Sub(back); took > maxBackoff+slack {
			t.Errorf("Create(%s) succeeded %v after the KMS came back, want within one max backoff %v (+%v slack)", o.tenant, took, maxBackoff, slack)
		} else {
			t.Logf("Create(%s) succeeded %v after the KMS came back (max backoff %v)", o.tenant, took.Round(time.Millisecond), maxBackoff)
		}
		if recs, ks := countRows(t, raw, o.tenant); recs != 1 || ks != 1 {
			t.Errorf("after Create(%s): %d records, %d keys, want 1, 1", o.tenant, recs, ks)
		}
	}
	for i := range 3 {
		tenant := fmt.Sprintf("new-after-outage-%d", i)
		ctx, cancel := context.WithTimeout(ctxFor(tenant), opTimeout)
		err := db.WithContext(ctx).Create(newRecord(tenant, tenant+"-s0", 1)).Error
		cancel()
		if err != nil {
			t.Errorf("after the outage: Create(new tenant %s) err = %v, want nil", tenant, err)
		}
	}

	wg.Wait()
	warmErrs.report(t, "operations on cached tenants failed")
	staleErrs.report(t, "stale-grace reads failed")
	for p, name := range []string{"before", "during", "after"} {
		t.Logf("%s the outage: %d reads, %d writes, %d stale-grace reads", name, reads[p].Load(), writes[p].Load(), staleReads[p].Load())
		if reads[p].Load() == 0 || writes[p].Load() == 0 || staleReads[p].Load() == 0 {
			t.Errorf("%s the outage: %d reads, %d writes, %d stale-grace reads, want some of each",
				name, reads[p].Load(), writes[p].Load(), staleReads[p].Load())
		}
	}
	if st := keys2.Stats(); st.StaleServed == 0 {
		t.Errorf("stale-grace reader Stats().StaleServed = 0, want > 0 (TTL %v, outage %v)", staleTTL, outageLen)
	} else {
		t.Logf("stale-grace reader: %d stale serves, %d KMS errors", st.StaleServed, st.KMSErrors)
	}
	kmsTenants.Range(func(k, _ any) bool {
		if tenant := k.(string); strings.HasPrefix(tenant, "warm-") {
			t.Errorf("the writers' store called the KMS for cached tenant %s after warm-up, want no call", tenant)
		}
		return true
	})

	// Every row as its worker last wrote it, read by a process with a
	// cold cache.
	db3, _ := openGORM(t, dsn)
	usePlugin(t, db3, newStore(t, openKeyDB(t, dsn), kek))
	want := make([]wantRow, len(all))
	for i, r := range all {
		want[i] = wantRow{r.tenant, r.id, r.rev}
	}
	verifyRows(t, db3, want)
}

// createWithin creates one record of tenant through db with a deadline
// of d, and says how long it took.
func createWithin(db *gorm.DB, tenant string, d time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctxFor(tenant), d)
	defer cancel()
	err := db.WithContext(ctx).Create(newRecord(tenant, tenant+"-s0", 1)).Error
	return time.Since(start), err
}
