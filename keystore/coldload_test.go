package keystore

import (
	"fmt"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// TestColdLoadsUnwrapOnce: many goroutines asking for the same cold keys
// unwrap each exactly once, even those that miss the cache just before
// the load that fills it finishes (they start a flight of their own,
// which must find the key cached rather than unwrap it again).
func TestColdLoadsUnwrapOnce(t *testing.T) {
	const (
		tenants    = 100
		goroutines = 64
		rounds     = 50
	)
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		if tdb.dialect != sqldialect.Postgres {
			t.Skip("one backend is enough: the flights are the same on every dialect")
		}
		drv := newInsecureTestKMS(t)
		seed := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		names := make([]string, tenants)
		for i := range names {
			names[i] = fmt.Sprintf("tenant-%03d", i)
			if _, err := seed.active(ctxb, names[i]); err != nil {
				t.Fatal(err)
			}
		}
		for round := range rounds {
			s, err := New(tdb.db, drv.keeper(testKEK), tdb.opts()...)
			if err != nil {
				t.Fatal(err)
			}
			before := drv.unwraps.Load()
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tenants {
						if _, err := s.lookupKey(ctxb, names[(g+i)%tenants], 1); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			s.Close()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: Key() = %v", round, err)
			}
			if n := drv.unwraps.Load() - before; n != tenants {
				t.Fatalf("round %d: %d unwraps for %d cold keys, want exactly %d", round, n, tenants, tenants)
			}
		}
	})
}
