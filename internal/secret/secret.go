// Package secret holds key bytes one pointer away from the types that use
// them, in a type that no formatter can print.
//
// Why a pointer: fmt prints a struct that was copied by value (by
// reflection, or with a vet warning ignored) field by field and skips the
// methods of unexported fields, so a []byte field of a key-holding type
// prints its bytes under %v, %x or %d whatever that type's own Format
// says. A pointer field at that depth prints as an address. The
// redaction methods here have value receivers, so a Bytes reached by
// value (a *Bytes dereferenced, a Bytes in an interface) redacts too.
package secret

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Bytes is a key that can be cleared. It is not safe for concurrent use:
// the holder synchronizes Clear with the readers of Bytes.
type Bytes struct{ b []byte }

// New takes ownership of b: Clear zeroes it.
func New(b []byte) *Bytes { return &Bytes{b: b} }

// Bytes returns the key, nil once cleared. The caller must not keep it
// past the next Clear.
func (s *Bytes) Bytes() []byte {
	if s == nil {
		return nil
	}
	return s.b
}

// Clear zeroes the key in place and drops it. It is idempotent, and a nil
// *Bytes clears nothing.
func (s *Bytes) Clear() {
	if s == nil {
		return
	}
	clear(s.b)
	s.b = nil
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
