// Package secret holds key bytes two pointers away from the types that
// use them, in a type that no formatter can print.
//
// Why two pointers: fmt prints a struct that was copied by value (by
// reflection, or with a vet warning ignored), or that sits in an
// unexported field, field by field and skips the methods of what it
// finds there. It prints a pointer field as an address, except under a
// verb a pointer does not take (%s, %q): then it expands the pointer
// once and prints what it points to with %v. So a *[]byte field, or a
// pointer to a struct with a []byte field, prints its bytes under %s.
// The bytes of a Bytes are two pointers from it, so that a *Bytes field
// and a Bytes field both expand at most to an address.
//
// The redaction methods have value receivers, so a Bytes reached by
// value (a *Bytes dereferenced, a Bytes in an interface) redacts itself
// too.
package secret

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Bytes is a key that can be cleared. It is not safe for concurrent use:
// the holder synchronizes Clear with the readers of Bytes.
type Bytes struct{ p **[]byte }

// New takes ownership of b: Clear zeroes it.
func New(b []byte) *Bytes {
	pb := &b
	return &Bytes{p: &pb}
}

// Bytes returns the key, nil once cleared. The caller must not keep it
// past the next Clear.
func (s *Bytes) Bytes() []byte {
	if s == nil {
		return nil
	}
	return **s.p
}

// Clear zeroes the key in place and drops it. It is idempotent, and a nil
// *Bytes clears nothing.
func (s *Bytes) Clear() {
	if s == nil {
		return
	}
	clear(**s.p)
	**s.p = nil
}

// String, GoString, Format, MarshalJSON, MarshalText and LogValue redact
// the key under every fmt verb, in JSON and other text encoders, and in
// log/slog.
func (Bytes) String() string               { return redacted }
func (Bytes) GoString() string             { return redacted }
func (Bytes) Format(f fmt.State, _ rune)   { io.WriteString(f, redacted) }
func (Bytes) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Bytes) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (Bytes) LogValue() slog.Value         { return slog.StringValue(redacted) }

var (
	_ fmt.Formatter  = Bytes{}
	_ fmt.Stringer   = Bytes{}
	_ fmt.GoStringer = Bytes{}
	_ slog.LogValuer = Bytes{}
)
