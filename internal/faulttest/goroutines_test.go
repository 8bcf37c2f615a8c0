package faulttest_test

import (
	"bytes"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// goroutines returns the stacks of the live goroutines, by goroutine id.
// Comparing two snapshots by id, rather than runtime.NumGoroutine, tells a
// goroutine that is still running from a new one that took the place of
// one that ended.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[string]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		// "goroutine 42 [select]:\n..."
		head, _, _ := strings.Cut(string(g), "\n")
		f := strings.Fields(head)
		if len(f) >= 2 && f[0] == "goroutine" {
			out[f[1]] = string(g)
		}
	}
	return out
}

// checkNoLeak fails t if goroutines started since before are still alive
// after waiting up to wait for them to wind down (cancelled loads, RPC
// handlers and timers need a moment after their caller returned).
func checkNoLeak(t *testing.T, before map[string]string, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range goroutines() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(leaked)
			t.Errorf("%d goroutines started during the test are still running after %v (before: %d); the first:",
				len(leaked), wait, len(before))
			for _, s := range leaked[:min(len(leaked), 5)] {
				t.Errorf("%s", s)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
