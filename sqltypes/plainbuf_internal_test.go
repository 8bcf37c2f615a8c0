package sqltypes

import (
	"bytes"
	"testing"
)

// TestPutPlainBufClears checks that a plaintext buffer is cleared before
// it goes back to the pool, so no plaintext waits there for the next
// reader, and that one grown past maxPooledPlain is not pooled at all.
func TestPutPlainBufClears(t *testing.T) {
	b := getPlainBuf()
	*b = append(*b, "given.family@example.com"...)
	kept := *b // the array the pool would keep
	putPlainBuf(b)
	if !bytes.Equal(kept, make([]byte, len(kept))) {
		t.Errorf("pooled buffer holds %q, want zeros", kept)
	}

	big := make([]byte, maxPooledPlain+1)
	for i := range big {
		big[i] = 'x'
	}
	putPlainBuf(&big)
	if !bytes.Equal(big, make([]byte, len(big))) {
		t.Errorf("dropped buffer not cleared")
	}
	for range 100 {
		if cap(*getPlainBuf()) > maxPooledPlain {
			t.Fatalf("getPlainBuf returned a buffer past maxPooledPlain")
		}
	}
}
