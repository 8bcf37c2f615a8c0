package secret

import (
	"bytes"
	"testing"

	"github.com/colcrypt/colcrypt/internal/redacttest"
)

// holder is a key-holding type with a *Bytes directly in a field and no
// redaction methods of its own: the case the package is for.
type holder struct {
	name string
	key  *Bytes
}

// TestRedacted: a *Bytes, and a holder with a *Bytes field formatted
// without its own methods, print no key byte under any verb, JSON or
// slog.
func TestRedacted(t *testing.T) {
	key := bytes.Repeat([]byte{0x9e, 0x41, 0xc7, 0x05}, 16)
	s := New(bytes.Clone(key))
	redacttest.Check(t, redacttest.Subjects("Bytes", s), key)
	redacttest.Check(t, redacttest.Subjects("holder", &holder{"k", s}), key)
}

// TestClear: Clear zeroes the bytes in place, Bytes returns nil after,
// and a nil *Bytes is harmless.
func TestClear(t *testing.T) {
	b := bytes.Repeat([]byte{7}, 32)
	s := New(b)
	if got := s.Bytes(); &got[0] != &b[0] {
		t.Fatal("Bytes() is not the slice given to New")
	}
	s.Clear()
	s.Clear()
	if !bytes.Equal(b, make([]byte, 32)) {
		t.Fatalf("Clear left %x", b)
	}
	if s.Bytes() != nil {
		t.Fatal("Bytes() after Clear is not nil")
	}
	var none *Bytes
	none.Clear()
	if none.Bytes() != nil {
		t.Fatal("nil Bytes() is not nil")
	}
}
