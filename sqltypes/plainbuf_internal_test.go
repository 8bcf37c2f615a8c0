package sqltypes

import (
	"bytes"
	"context"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/field/fieldtest"
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

// TestHeldBufferClears checks that a reused Scanner's own plaintext
// buffer is cleared after every value, as the pool's are.
func TestHeldBufferClears(t *testing.T) {
	keys, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	col := NewColumn[string](field.NewEncryptor(keys), "p", "v")
	const secret = "given.family@example.com"
	stored, err := col.Seal(ctx, "acme", secret)
	if err != nil {
		t.Fatal(err)
	}
	var dst string
	sc := col.Scan(ctx, "acme", &dst).(*scanner[string])
	for i := range 3 {
		if err := sc.Scan(stored); err != nil || dst != secret {
			t.Fatalf("Scan %d = %q, %v", i, dst, err)
		}
	}
	if sc.held == nil || sc.held == scannedOnce {
		t.Fatalf("a Scanner used 3 times holds no handle")
	}
	buf := sc.held.buf[:cap(sc.held.buf)]
	if len(buf) < len(secret) || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("held buffer (cap %d) holds %q, want zeros", cap(buf), buf)
	}
}
