package secret

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
)

// Shared is a key of SharedSize bytes that several holders read at the
// same time and that one of them, its owner, may clear: a tenant's data
// key, held by the key store's cache and by every column cipher derived
// from it, which derive further subkeys from it on first use. Unlike
// Bytes it is safe for concurrent use.
//
// Its bytes are zeroed by Clear, or else when the garbage collector finds
// the Shared unreachable. So an owner that lets go of the key without
// clearing it (a cache that evicts a key whose ciphers may still be in a
// caller's hands) leaves it in memory exactly as long as some holder can
// still use it, plus one collection.
//
// The bytes sit two pointers away, as in Bytes, so a *Shared field of a
// type formatted without its own methods prints at most an address. The
// second pointer is to the key's array itself, not to a slice header:
// one allocation of 24 bytes less per key, which a key store keeps per
// cached key.
//
// Its lock is a plain Mutex, not an RWMutex: its holders use the key
// rarely (to derive a subkey once, to compare it on a refresh), so
// readers that wait on each other cost nothing that shows, and a key
// store keeps one Shared per cached key, 16 bytes instead of 32.
type Shared struct {
	mu sync.Mutex
	p  **[SharedSize]byte
}

// SharedSize is the size of a Shared key: a data key's, an AES-256 key.
const SharedSize = 32

// NewShared takes ownership of b, which must be SharedSize bytes (it
// panics otherwise: a key's size is the program's, not its input's):
// Clear, or the collection of the Shared, zeroes it.
func NewShared(b []byte) *Shared {
	if len(b) != SharedSize {
		panic(fmt.Sprintf("secret: shared key of %d bytes, want %d", len(b), SharedSize))
	}
	pb := (*[SharedSize]byte)(b)
	s := &Shared{p: &pb}
	// The clean-up's argument is the pointer to the bytes, not s, which
	// would keep s reachable for ever.
	runtime.AddCleanup(s, clearKey, s.p)
	return s
}

func clearKey(p **[SharedSize]byte) {
	if *p != nil {
		clear((*p)[:])
		*p = nil
	}
}

// Use calls f with the key, or with nil once it was cleared, and holds
// Clear and other calls of Use off until f returns. f must not keep the
// slice, nor call Clear or Use.
func (s *Shared) Use(f func(key []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := *s.p; k != nil {
		f(k[:])
	} else {
		f(nil)
	}
}

// Clear zeroes the key in place and drops it, waiting for the call of
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
