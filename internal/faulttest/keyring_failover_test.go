package faulttest_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// The two regions of the keyring scenarios: one Cloud KMS key in each,
// each on its own fake server.
const (
	regionA = "projects/colcrypt/locations/europe-west1/keyRings/faulttest/cryptoKeys/kek"
	regionB = "projects/colcrypt/locations/europe-west4/keyRings/faulttest/cryptoKeys/kek"
)

const (
	ringTenants = 200 // half warm, half cold in each run
	ringWorkers = 8
	ringRounds  = 3 // times each worker goes through every tenant
)

// TestKeyringRegionOutage runs 8 workers sealing and opening over 200
// tenants, half of them cold, on a keyring of two Cloud KMS regions whose
// first answers UNAVAILABLE to every call for the whole run. What it
// shows:
//   - no operation fails: every cold key is unwrapped from its copy in the
//     second region;
//   - each cold tenant costs at most one call to the dead region (the
//     circuit breaker puts the region last after its first failure), and
//     a warm tenant costs no KMS call at all;
//   - the p99 seal latency of the same load with both regions up, and
//     during the outage (logged, not asserted: the machine is shared).
func TestKeyringRegionOutage(t *testing.T) {
	runRingFailover(t, insecurefakekms.Faults{FailAll: codes.Unavailable}, 0)
}

// TestKeyringSlowRegion is TestKeyringRegionOutage with a first region
// that answers every call after 2s, and a 500ms bound on each KMS call:
// a cold tenant pays at most one 500ms timeout to the slow region, and no
// operation fails.
func TestKeyringSlowRegion(t *testing.T) {
	runRingFailover(t, insecurefakekms.Faults{Latency: 2 * time.Second}, 500*time.Millisecond)
}

// sealScope is the column every scenario value belongs to.
func sealScope(tenant string) field.Scope {
	return field.Scope{Tenant: tenant, Table: "records", Column: "name"}
}

func setupPlaintext(tenant string) []byte { return []byte("setup value of " + tenant) }

func runRingFailover(t *testing.T, faults insecurefakekms.Faults, kmsTimeout time.Duration) {
	srvA := insecurefakekms.Start(t, regionA)
	srvB := insecurefakekms.Start(t, regionB)
	kekA, kekB := openKeeper(t, srvA.KeyURI(regionA)), openKeeper(t, srvB.KeyURI(regionB))
	dsn := testhelpers.Postgres(t)
	raw := openKeyDB(t, dsn)
	ctx := context.Background()
	if err := keystore.CreateTable(ctx, raw, keystore.WithDialect("postgres")); err != nil {
		t.Fatalf("keystore.CreateTable: %v", err)
	}

	// Another process creates every tenant's key with both regions up:
	// a copy under each.
	creator := field.NewEncryptor(newStore(t, raw, kekA, keystore.WithKeyring(kekB)))
	tenants := make([]string, ringTenants)
	sealed := make(map[string][]byte, ringTenants)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("ring-%03d", i)
		v, err := creator.Seal(ctx, sealScope(tenants[i]), setupPlaintext(tenants[i]))
		if err != nil {
			t.Fatalf("setup Seal(%s) err = %v, want nil", tenants[i], err)
		}
		sealed[tenants[i]] = v
	}
	infos, err := newStore(t, raw, kekA).List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ki := range infos {
		if want := []string{kekA.URI(), kekB.URI()}; !slices.Equal(ki.Copies, want) {
			t.Fatalf("key of %s v%d has copies %v, want %v", ki.Tenant, ki.Version, ki.Copies, want)
		}
	}

	tuning := keystore.Tuning{CacheTTL: time.Hour, KMSTimeout: kmsTimeout, BreakerCooldown: time.Minute}
	before := ringLoad(t, openKeyDB(t, dsn), srvA, kekA, kekB, tenants, sealed, tuning, nil)
	during := ringLoad(t, openKeyDB(t, dsn), srvA, kekA, kekB, tenants, sealed, tuning, func() { srvA.SetFaults(faults) })

	for _, r := range []*ringResult{before, during} {
		r.failed.report(t, r.label+": operations failed")
	}
	t.Logf("seal latency, both regions up:       p50 %v, p99 %v, max %v over %d seals",
		before.pct(0.50), before.pct(0.99), before.pct(1), len(before.seals))
	t.Logf("seal latency, first region %s: p50 %v, p99 %v, max %v over %d seals",
		faultName(faults, kmsTimeout), during.pct(0.50), during.pct(0.99), during.pct(1), len(during.seals))
	t.Logf("during: %d calls to the first region (%d cold tenants), stats %+v", during.deadCalls(), ringTenants/2, during.stats)

	for i, tenant := range tenants {
		cold := i%2 == 1
		switch n := during.callsA[tenant]; {
		case cold && n > 1:
			t.Errorf("cold tenant %s: %d calls to the first region during its outage, want at most 1", tenant, n)
		case !cold && n+during.callsB[tenant] > 0:
			t.Errorf("warm tenant %s: %d KMS calls, want none", tenant, n+during.callsB[tenant])
		}
		if cold && during.callsB[tenant] == 0 {
			t.Errorf("cold tenant %s: no call to the second region, want its key unwrapped there", tenant)
		}
	}
	// The observer saw every call the dead region received.
	if got := during.deadCalls(); int64(got) != during.serverCallsA {
		t.Errorf("the store made %d calls to the first region, its server received %d", got, during.serverCallsA)
	}
	if during.deadCalls() == 0 {
		t.Errorf("no call went to the first region during its outage: the scenario tested nothing")
	}
}

// faultName says in a few words what the first region did.
func faultName(f insecurefakekms.Faults, timeout time.Duration) string {
	if f.Latency > 0 {
		return fmt.Sprintf("slow (%v, %v timeout)", f.Latency, timeout)
	}
	return "down"
}

// openKeeper opens a keeper on a fake server, closed by t.Cleanup.
func openKeeper(t *testing.T, uri string) *kms.Keeper {
	t.Helper()
	kp, err := kms.Open(context.Background(), uri)
	if err != nil {
		t.Fatalf("kms.Open: %v", err)
	}
	t.Cleanup(func() { kp.Close() })
	return kp
}

// ringResult is what one run of the load saw.
type ringResult struct {
	label        string
	seals        []time.Duration // sorted
	failed       failures
	callsA       map[string]int // KMS calls per tenant to the first region, after warm-up
	callsB       map[string]int
	serverCallsA int64 // calls the first region's server received, after warm-up
	stats        keystore.Stats
}

// pct is the q quantile of the seal latencies.
func (r *ringResult) pct(q float64) time.Duration {
	if len(r.seals) == 0 {
		return 0
	}
	return r.seals[min(len(r.seals)-1, int(q*float64(len(r.seals))))].Round(10 * time.Microsecond)
}

func (r *ringResult) deadCalls() int {
	n := 0
	for _, c := range r.callsA {
		n += c
	}
	return n
}

// ringLoad builds a key store on db, a process of its own with a cold
// cache, on the keyring (kekA on srvA, kekB), warms the even tenants,
// calls fault (if any), and runs the workers: each goes ringRounds times
// through every tenant in its own order, sealing a value, opening it, and
// opening the tenant's setup value.
func ringLoad(t *testing.T, db *sql.DB, srvA *insecurefakekms.Server, kekA, kekB *kms.Keeper, tenants []string, sealed map[string][]byte,
	tuning keystore.Tuning, fault func()) *ringResult {
	t.Helper()
	res := &ringResult{label: "both regions up", callsA: map[string]int{}, callsB: map[string]int{}}
	if fault != nil {
		res.label = "first region failing"
	}
	var (
		mu       sync.Mutex
		watching bool
	)
	observe := func(e keystore.Event) {
		if e.Kind != "wrap" && e.Kind != "unwrap" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !watching {
			return
		}
		switch e.KEKURI {
		case kekA.URI():
			res.callsA[e.Tenant]++
		case kekB.URI():
			res.callsB[e.Tenant]++
		}
	}
	store := newStore(t, db, kekA, keystore.WithKeyring(kekB), keystore.WithTuning(tuning),
		keystore.WithTelemetry(keystore.Telemetry{Observer: observe}))
	enc := field.NewEncryptor(store)
	ctx := context.Background()
	for i := 0; i < len(tenants); i += 2 {
		tenant := tenants[i]
		if _, err := enc.Open(ctx, sealScope(tenant), sealed[tenant]); err != nil {
			t.Fatalf("warm-up Open(%s) err = %v, want nil", tenant, err)
		}
		if _, err := enc.Seal(ctx, sealScope(tenant), []byte("warm-up")); err != nil {
			t.Fatalf("warm-up Seal(%s) err = %v, want nil", tenant, err)
		}
	}
	if fault != nil {
		fault()
	}
	mu.Lock()
	watching = true
	mu.Unlock()
	encA0, decA0 := srvA.Calls()

	lat := make([][]time.Duration, ringWorkers)
	var wg sync.WaitGroup
	for w := range ringWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for round := range ringRounds {
				for _, i := range rng.Perm(len(tenants)) {
					tenant := tenants[i]
					scope := sealScope(tenant)
					pt := fmt.Appendf(nil, "value %d of worker %d round %d", i, w, round)
					opCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
					start := time.Now()
					v, err := enc.Seal(opCtx, scope, pt)
					lat[w] = append(lat[w], time.Since(start))
					if err != nil {
						res.failed.add("%s: Seal(%s) err = %v, want nil", res.label, tenant, err)
						cancel()
						continue
					}
					if got, err := enc.Open(opCtx, scope, v); err != nil || !bytes.Equal(got, pt) {
						res.failed.add("%s: Open(Seal(%s)) = %q, %v; want %q", res.label, tenant, got, err, pt)
					}
					if got, err := enc.Open(opCtx, scope, sealed[tenant]); err != nil || !bytes.Equal(got, setupPlaintext(tenant)) {
						res.failed.add("%s: Open(setup value of %s) = %q, %v; want %q", res.label, tenant, got, err, setupPlaintext(tenant))
					}
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	watching = false
	mu.Unlock()
	encA1, decA1 := srvA.Calls()
	res.serverCallsA = encA1 - encA0 + decA1 - decA0
	for _, l := range lat {
		res.seals = append(res.seals, l...)
	}
	slices.Sort(res.seals)
	res.stats = store.Stats()
	return res
}
