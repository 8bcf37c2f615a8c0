package keystore

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// hitCounts counts the calls answered from the cache: hits, and stale
// serves on the lock-free paths. Every warm seal and open adds one, so
// one shared counter would be a cache line that every core writes on
// every value, bouncing between them: on two cores with eight goroutines
// that alone cost a tenth of a small seal. The counts are striped
// instead, one padded stripe per cache line pair, and Stats sums them.
// The sum is exact: every call is in exactly one stripe, and each stripe
// only grows, so a later Stats never reads less than an earlier one.
// Measured against one atomic.Uint64 (BenchmarkConcCounters, and field's
// Benchmark*ParallelVsRaw with the counters replaced), the stripes keep a
// parallel open at 1.35x raw AES-GCM instead of 1.65x on two cores; see
// docs/ARCHITECTURE.md, "Concurrency in the cache".
//
// A goroutine picks its stripe by the address of a variable on its own
// stack. Goroutines' stacks are disjoint, and a goroutine's stays put
// while it runs (it moves only when it grows), so each goroutine keeps
// writing one stripe, which stays in the cache of the core it runs on,
// and goroutines running at the same time on different cores mostly
// write different stripes. Nothing reads the address but the hash; a
// collision only costs speed.
type hitCounts struct {
	stripes []hitStripe
	shift   uint // 64 - log2(len(stripes))
}

// hitStripe is one stripe, padded to 128 bytes: a pair of cache lines,
// which some CPUs fetch together.
type hitStripe struct {
	hits, stale atomic.Uint64
	_           [128 - 16]byte
}

// Stripe counts: four per CPU, so that two goroutines running at once
// rarely share one, within bounds that keep a Store's counters small.
const (
	minHitStripes = 16
	maxHitStripes = 256
)

func newHitCounts(procs int) *hitCounts {
	n := minHitStripes
	for n < 4*procs && n < maxHitStripes {
		n *= 2
	}
	shift := uint(64)
	for m := n; m > 1; m >>= 1 {
		shift--
	}
	return &hitCounts{stripes: make([]hitStripe, n), shift: shift}
}

func newStoreHitCounts() *hitCounts { return newHitCounts(runtime.GOMAXPROCS(0)) }

// add counts one call answered from the cache, as stale if stale.
func (h *hitCounts) add(stale bool) {
	s := h.stripe()
	if stale {
		s.stale.Add(1)
	} else {
		s.hits.Add(1)
	}
}

// stripe returns the calling goroutine's stripe: a Fibonacci hash of its
// stack address at a 1 KiB grain (goroutine stacks are at least 2 KiB).
func (h *hitCounts) stripe() *hitStripe {
	var probe byte
	a := uint64(uintptr(unsafe.Pointer(&probe))) >> 10
	return &h.stripes[(a*0x9e3779b97f4a7c15)>>h.shift]
}

// sum returns the counts.
func (h *hitCounts) sum() (hits, stale uint64) {
	for i := range h.stripes {
		hits += h.stripes[i].hits.Load()
		stale += h.stripes[i].stale.Load()
	}
	return hits, stale
}
