package localkms

import (
	"bytes"
	"testing"

	"github.com/colcrypt/colcrypt/internal/redacttest"
)

// TestRedactionShared runs the shared redaction table over a Keyset and a
// Driver: by pointer and copied by value, bare and inside structs,
// slices, maps and interfaces, under every fmt verb, JSON and slog.
func TestRedactionShared(t *testing.T) {
	key := bytes.Repeat([]byte{0xa7, 0x3c, 0x51, 0xe2}, 8)
	ks, err := newKeyset(map[string][]byte{"k1": key})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(ks, "k1")
	if err != nil {
		t.Fatal(err)
	}
	redacttest.Check(t, redacttest.Subjects("Keyset", ks), key)
	redacttest.Check(t, redacttest.Subjects("Driver", d), key)
}
