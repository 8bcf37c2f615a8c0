package secret

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
)

// Shared is a key that several holders read at the same time and that
// one of them, its owner, may clear: a tenant's data key, held by the
// key store's cache and by every column cipher derived from it, which
// derive further subkeys from it on first use. Unlike Bytes it is safe
// for concurrent use.
//
// Its bytes are zeroed by Clear, or else when the garbage collector finds
// the Shared unreachable. So an owner that lets go of the key without
// clearing it (a cache that evicts a key whose ciphers may still be in a
// caller's hands) leaves it in memory exactly as long as some holder can
// still use it, plus one collection.
//
// The bytes sit two pointers away, as in Bytes, so a *Shared field of a
// type formatted without its own methods prints at most an address.
type Shared struct {
	mu sync.RWMutex
	p  **[]byte
}

// NewShared takes ownership of b: Clear, or the collection of the
// Shared, zeroes it.
func NewShared(b []byte) *Shared {
	pb := &b
	s := &Shared{p: &pb}
	// The clean-up's argument is the pointer to the bytes, not s, which
	// would keep s reachable for ever.
	runtime.AddCleanup(s, clearKey, s.p)
	return s
}

func clearKey(p **[]byte) {
	clear(**p)
	**p = nil
}

// Use calls f with the key, or with nil once it was cleared, and holds
// Clear off until f returns. f must not keep the slice, nor call Clear.
func (s *Shared) Use(f func(key []byte)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(**s.p)
}

// Clear zeroes the key in place and drops it, waiting for the calls of
// Use in progress. It is idempotent.
func (s *Shared) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clearKey(s.p)
}

// String, GoString, Format, MarshalJSON, MarshalText and LogValue redact
// the key under every fmt verb, in JSON and other text encoders, and in
// log/slog. Their receivers are pointers, since a Shared holds a lock
// and is not to be copied; a Shared reached by value prints its lock's
// counters and an address.
func (*Shared) String() string               { return redacted }
func (*Shared) GoString() string             { return redacted }
func (*Shared) Format(f fmt.State, _ rune)   { io.WriteString(f, redacted) }
func (*Shared) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (*Shared) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (*Shared) LogValue() slog.Value         { return slog.StringValue(redacted) }

var (
	_ fmt.Formatter  = (*Shared)(nil)
	_ fmt.Stringer   = (*Shared)(nil)
	_ fmt.GoStringer = (*Shared)(nil)
	_ slog.LogValuer = (*Shared)(nil)
)
