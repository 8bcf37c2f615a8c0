package keystore

import "sync/atomic"

// chainTable is a power-of-two array of copy-on-write chains, the table
// of the cache's lock-free indexes (cipherindex.go, activeindex.go):
// readers load a chain's head and walk it without a lock; writers, under
// cache.mu, publish new heads and never change a published node.
type chainTable[N any] struct {
	chains []atomic.Pointer[N]
	mask   uint64
}

func newChainTable[N any](n int) *chainTable[N] {
	return &chainTable[N]{chains: make([]atomic.Pointer[N], n), mask: uint64(n - 1)}
}

// grown returns a table of twice t's chains holding copies of its nodes,
// rehashed by hash; next gives a node's link.
func (t *chainTable[N]) grown(hash func(*N) uint64, next func(*N) **N) *chainTable[N] {
	nt := newChainTable[N](2 * len(t.chains))
	for i := range t.chains {
		for r := t.chains[i].Load(); r != nil; r = *next(r) {
			cp := *r
			head := &nt.chains[hash(&cp)&nt.mask]
			*next(&cp) = head.Load()
			head.Store(&cp)
		}
	}
	return nt
}

// unlinked returns the chain that starts at first with target left out,
// for the copy-on-write hash chains of the cache's lock-free indexes
// (cipherindex.go, activeindex.go), whose readers walk a chain without a
// lock: no node is changed in place, the nodes in front of target are
// copied, linked to what follows it. next gives a node's link.
func unlinked[N any](first, target *N, next func(*N) **N) *N {
	rest := *next(target)
	var front []*N
	for r := first; r != target; r = *next(r) {
		front = append(front, r)
	}
	for i := len(front) - 1; i >= 0; i-- {
		cp := *front[i]
		*next(&cp) = rest
		rest = &cp
	}
	return rest
}
