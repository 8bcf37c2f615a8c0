package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// roundResult is one contender's work in one round.
type roundResult struct {
	values  int64
	elapsed time.Duration // time inside phases only: setup and teardown excluded
	mallocs uint64
	bytes   uint64
	cpu     time.Duration // process CPU time inside phases
	samples []time.Duration
}

// runRound runs c for about d with workers goroutines, phase after phase.
// The clock starts when the round does, so a contender with costly phase
// setup (a fresh Store) gets fewer phases, but only time inside phases is
// counted in elapsed.
func runRound(ctx context.Context, c *contender, plaintext []byte, tenants, workers int, d time.Duration) (roundResult, error) {
	runtime.GC() // every cell starts from a collected heap
	var stop atomic.Bool
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()

	var res roundResult
	for !stop.Load() {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		ph, err := c.next(ctx)
		if err != nil {
			return res, fmt.Errorf("%s: %w", c.name, err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu0, start := processCPU(), time.Now()
		n, samples, err := runPhase(ctx, ph, plaintext, tenants, workers, c.sampleEvery, &stop)
		res.elapsed += time.Since(start)
		res.cpu += processCPU() - cpu0
		runtime.ReadMemStats(&after)
		ph.done()
		if err != nil {
			return res, fmt.Errorf("%s: %w", c.name, err)
		}
		res.values += n
		res.mallocs += after.Mallocs - before.Mallocs
		res.bytes += after.TotalAlloc - before.TotalAlloc
		res.samples = append(res.samples, samples...)
		if ph.limit == 0 {
			break
		}
	}
	return res, nil
}

// runPhase runs one phase on workers goroutines until stop is set or the
// phase's limit is reached, and returns the values sealed and the sampled
// latencies. The first error stops every goroutine.
func runPhase(ctx context.Context, ph phase, plaintext []byte, tenants, workers, sampleEvery int, stop *atomic.Bool) (int64, []time.Duration, error) {
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		failed   atomic.Bool
		mu       sync.Mutex
		total    int64
		all      []time.Duration
		firstErr error
	)
	if sampleEvery < 1 {
		sampleEvery = 1
	}
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples := make([]time.Duration, 0, 4096)
			tenant := g * tenants / workers
			var n int64
			var err error
			for !stop.Load() && !failed.Load() {
				if ph.limit > 0 {
					i := next.Add(1) - 1
					if i >= int64(ph.limit) {
						break
					}
					tenant = int(i % int64(tenants))
				} else if tenant++; tenant == tenants {
					tenant = 0
				}
				if n%int64(sampleEvery) == 0 {
					t0 := time.Now()
					_, err = ph.s.seal(ctx, tenant, plaintext)
					samples = append(samples, time.Since(t0))
				} else {
					_, err = ph.s.seal(ctx, tenant, plaintext)
				}
				if err != nil {
					failed.Store(true)
					break
				}
				n++
			}
			mu.Lock()
			defer mu.Unlock()
			total += n
			all = append(all, samples...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return total, all, firstErr
}
