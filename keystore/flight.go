package keystore

import (
	"context"
	"fmt"
	"sync"
)

// flightGroup runs one load per key however many goroutines ask, like
// golang.org/x/sync/singleflight, with two differences a KMS call needs:
//
//   - The load runs under its own context, detached from the caller that
//     started it (its values, such as a trace span, are kept), so a
//     caller that gives up does not fail the load for the others.
//   - Each waiter still honours its own context, and the load's context
//     is cancelled when the last waiter has given up, so the load lives
//     exactly as long as the most patient caller and no longer: no
//     retries and backoff sleeps continue for nobody.
type flightGroup struct {
	mu   sync.Mutex
	m    map[flightKey]*flight
	stop context.Context // Store.Close cancels every load through it
}

type flightKind uint8

const (
	flightActive flightKind = iota + 1
	flightVersion
	flightInit
)

type flightKey struct {
	kind    flightKind
	tenant  string
	version uint32
}

type flight struct {
	done    chan struct{}
	res     flightResult
	err     error
	waiters int
	cancel  context.CancelFunc
	lastKMS kmsErrSink // why the load has not finished yet, if the KMS failed
}

// kmsErrSink holds the latest KMS failure of a running load, reached
// through the load's context. A waiter whose context ends while the load
// is still retrying returns it beside ctx.Err(), so the caller sees that
// the KMS was failing (and kms.IsRetryable says so), not only that time
// ran out.
type kmsErrSink struct {
	mu  sync.Mutex
	err error
}

type kmsErrSinkKey struct{}

func (s *kmsErrSink) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *kmsErrSink) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// recordKMSError notes err as the latest KMS failure of the load running
// under ctx, if any.
func recordKMSError(ctx context.Context, err error) {
	if s, ok := ctx.Value(kmsErrSinkKey{}).(*kmsErrSink); ok {
		s.set(err)
	}
}

// flightResult is what a load returns: a key, and whether it is an
// expired key served during the stale grace.
type flightResult struct {
	key   *dataKey
	stale bool
}

// do returns the result of load for k, starting it unless a load for k
// is already running. If ctx ends first it returns an error matching
// ctx.Err(), which also wraps the load's latest KMS error if it had one.
func (g *flightGroup) do(ctx context.Context, k flightKey, load func(ctx context.Context) (flightResult, error)) (flightResult, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[flightKey]*flight)
	}
	f := g.m[k]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		lctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), kmsErrSinkKey{}, &f.lastKMS))
		f.cancel = cancel
		stopAfter := context.AfterFunc(g.stop, cancel)
		g.m[k] = f
		go func() {
			r, err := load(lctx)
			f.res, f.err = r, err
			g.mu.Lock()
			if g.m[k] == f {
				delete(g.m, k)
			}
			g.mu.Unlock()
			stopAfter()
			cancel()
			close(f.done)
		}()
	}
	f.waiters++
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			// Nobody waits: stop the load, and let the next caller start
			// afresh rather than join a cancelled one.
			if g.m[k] == f {
				delete(g.m, k)
			}
			f.cancel()
		}
		g.mu.Unlock()
		if kerr := f.lastKMS.get(); kerr != nil {
			return flightResult{}, fmt.Errorf("%w while the key was loading; last KMS error: %w", ctx.Err(), kerr)
		}
		return flightResult{}, ctx.Err()
	}
}

// running returns how many loads are in flight; for tests.
func (g *flightGroup) running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}
