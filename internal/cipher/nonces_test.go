package cipher

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

// TestSealNoncesUnique seals across several refills of one Nonces and
// checks that every stored nonce differs, that none is the zero nonce a
// fresh buffer holds, and that every value opens.
func TestSealNoncesUnique(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 9), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	var n Nonces
	seen := make(map[string]bool)
	zero := make([]byte, nonceSize)
	for i := range 3*noncesPerRead + 7 {
		v, err := c.SealNonces(nil, []byte("ann@example.com"), &n)
		if err != nil {
			t.Fatal(err)
		}
		p, err := codec.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(p.Nonce, zero) || seen[string(p.Nonce)] {
			t.Fatalf("value %d reuses nonce %x", i, p.Nonce)
		}
		seen[string(p.Nonce)] = true
		if pt, err := c.Open(nil, v); err != nil || string(pt) != "ann@example.com" {
			t.Fatalf("Open(value %d) = %q, %v", i, pt, err)
		}
	}
}

// TestSealNoncesFormat: a value from SealNonces is Seal's format, the
// same length, and fails like one when tampered with.
func TestSealNoncesFormat(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 9), 300, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	var n Nonces
	pt := []byte("4111 1111 1111 1111")
	a, _ := c.Seal(nil, pt)
	b, err := c.SealNonces(nil, pt, &n)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || !bytes.Equal(a[:headerLen(300)], b[:headerLen(300)]) {
		t.Fatalf("SealNonces = %x, Seal = %x: want the same header and length", b, a)
	}
	for i := range len(b) * 8 {
		bad := bytes.Clone(b)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := c.Open(nil, bad); !errors.Is(err, codec.ErrAuth) {
			t.Fatalf("bit %d flipped: Open = %v, want codec.ErrAuth", i, err)
		}
	}
	other, _ := NewCipher(patterned(DEKSize, 9), 300, codec.Scope{Tenant: "other", Table: "patients", Column: "email"})
	if _, err := other.Open(nil, b); !errors.Is(err, codec.ErrAuth) {
		t.Fatalf("Open under another tenant = %v, want codec.ErrAuth", err)
	}
	if _, err := c.SealNonces(nil, make([]byte, MaxPlaintextSize+1), &n); err == nil {
		t.Fatal("SealNonces of an oversized plaintext succeeded")
	}
	// A nil Nonces is Seal.
	if v, err := c.SealNonces(nil, pt, nil); err != nil || len(v) != len(a) {
		t.Fatalf("SealNonces(nil Nonces) = %x, %v", v, err)
	}
}

// TestNoncesNoAllocs: handing out a nonce and sealing into a buffer with
// room allocates nothing.
func TestNoncesNoAllocs(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 9), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	var n Nonces
	pt := make([]byte, 64)
	dst := make([]byte, 0, 256)
	if a := testing.AllocsPerRun(1000, func() { c.SealNonces(dst[:0], pt, &n) }); a != 0 {
		t.Fatalf("SealNonces allocates %v times", a)
	}
}

// TestNoncesCopy: a Nonces copied by value (by reflection here; vet
// reports a plain copy) never hands out a nonce that its original hands
// out, before or after the copy, across refills of both.
func TestNoncesCopy(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 9), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]string)
	seal := func(who string, n *Nonces) {
		t.Helper()
		v, err := c.SealNonces(nil, []byte("x"), n)
		if err != nil {
			t.Fatal(err)
		}
		p, err := codec.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[string(p.Nonce)]; dup {
			t.Fatalf("%s handed out nonce %x, already handed out by %s", who, p.Nonce, prev)
		}
		seen[string(p.Nonce)] = who
	}
	orig := new(Nonces)
	for range 10 {
		seal("original", orig)
	}
	copyOf := func(n *Nonces) *Nonces {
		cp := reflect.New(reflect.TypeFor[Nonces]())
		cp.Elem().Set(reflect.ValueOf(n).Elem())
		return cp.Interface().(*Nonces)
	}
	cp := copyOf(orig)
	cp2 := copyOf(cp)
	for range 2*noncesPerRead + 3 {
		seal("original", orig)
		seal("copy", cp)
		seal("copy of copy", cp2)
	}
	// Assigning over a used Nonces is a copy too.
	*cp = *copyOf(orig)
	for range noncesPerRead {
		seal("original", orig)
		seal("overwritten copy", cp)
	}
}
