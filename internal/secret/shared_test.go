package secret

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/redacttest"
)

// sharedHolder holds a *Shared in a field and has no redaction methods
// of its own, like a cipher holding its tenant's data key.
type sharedHolder struct {
	name string
	key  *Shared
}

// TestSharedRedacted: a *Shared, a Shared reached by value, and a holder
// with a *Shared field print no key byte under any verb, JSON or slog.
func TestSharedRedacted(t *testing.T) {
	key := bytes.Repeat([]byte{0x3c, 0xa9, 0x17, 0xe2}, 8)
	s := NewShared(bytes.Clone(key))
	redacttest.Check(t, redacttest.Subjects("Shared", s), key)
	redacttest.Check(t, redacttest.Subjects("sharedHolder", &sharedHolder{"k", s}), key)
}

// TestSharedClear: Use sees the key until Clear, which zeroes it in place
// and is idempotent; Use sees nil after.
func TestSharedClear(t *testing.T) {
	b := bytes.Repeat([]byte{9}, 32)
	s := NewShared(b)
	s.Use(func(key []byte) {
		if len(key) != 32 || &key[0] != &b[0] {
			t.Fatal("Use did not pass the slice given to NewShared")
		}
	})
	s.Clear()
	s.Clear()
	if !bytes.Equal(b, make([]byte, 32)) {
		t.Fatalf("Clear left %x", b)
	}
	s.Use(func(key []byte) {
		if key != nil {
			t.Fatalf("Use after Clear passed %x, want nil", key)
		}
	})
}

// TestSharedCollectedZeroes: a Shared that nothing references any more
// has its bytes zeroed by the garbage collector's clean-up.
func TestSharedCollectedZeroes(t *testing.T) {
	b := bytes.Repeat([]byte{0x5a}, 32)
	func() {
		s := NewShared(b)
		s.Use(func([]byte) {})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Equal(b, make([]byte, 32)) {
		if time.Now().After(deadline) {
			t.Fatal("the bytes of a collected Shared were not zeroed")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestSharedConcurrent: readers see the whole key or nil, never a
// half-cleared one. Run under -race it checks Clear is synchronized with
// Use.
func TestSharedConcurrent(t *testing.T) {
	want := bytes.Repeat([]byte{0xe7}, 32)
	for range 50 {
		s := NewShared(bytes.Clone(want))
		var wg sync.WaitGroup
		bad := make(chan string, 4)
		for range 4 {
			wg.Go(func() {
				for range 100 {
					s.Use(func(key []byte) {
						if key != nil && !bytes.Equal(key, want) {
							select {
							case bad <- "Use saw a half-cleared key":
							default:
							}
						}
					})
				}
			})
		}
		s.Clear()
		wg.Wait()
		close(bad)
		for msg := range bad {
			t.Fatal(msg)
		}
	}
}

// TestSharedSize: NewShared takes keys of SharedSize bytes only; a key of
// another size is a programmer's error and panics.
func TestSharedSize(t *testing.T) {
	for _, n := range []int{0, 16, SharedSize - 1, SharedSize + 1, 64} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewShared(%d bytes) did not panic", n)
				}
			}()
			NewShared(make([]byte, n))
		}()
	}
}
