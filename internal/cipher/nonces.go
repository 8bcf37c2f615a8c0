package cipher

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
)

// noncesPerRead is how many GCM nonces a Nonces buffer reads from
// crypto/rand at once.
const noncesPerRead = 256

// Nonces hands out random AES-GCM nonces to one goroutine that seals many
// values, read from crypto/rand noncesPerRead at a time.
//
// Why: Cipher.Seal draws each nonce with one call to the system's random
// generator, which costs about as much as sealing a short
// value and, on the machines measured, does not scale across cores (the
// per-call part of the kernel's generator is shared). Reading the same
// generator in bulk costs half per nonce and scales. The nonces are the
// same: 96 random bits each, from crypto/rand, each used once; the stored
// value is byte for byte the format Seal writes.
//
// A Nonces is not safe for concurrent use: give each goroutine its own,
// from NewNonces (or new, or a zero value that is never copied: it reads
// before handing out its first nonce).
//
// A Nonces must not be copied, and go vet reports copies. A copy made all
// the same, by reflection or with vet ignored, never hands out a nonce
// its original does: the buffer is one pointer away and remembers the
// Nonces that filled it, so a copy finds a buffer that is not its own and
// reads a new one before its first nonce. Without that, a struct copy
// handed to a second goroutine would seal values under the same nonces as
// the first, and two GCM values under one key and nonce give away the
// XOR of their plaintexts and the key's authentication subkey.
//
// Nonces are not secret (each is stored in the clear in its value), so
// the buffer needs no zeroing; a Nonces prints as [redacted] all the
// same, since nonces not yet used are best not logged.
type Nonces struct {
	_  noCopy
	st *nonceBuffer // nil until the first nonce, or owned by another Nonces (a copy's)
}

// nonceBuffer is the state of one Nonces. owner is set when it is made
// and never changes, so a copy may read it while its original writes the
// rest. The bytes are one more pointer away: fmt expands a pointer it
// cannot format under a verb (%s of a copied Nonces) one level, and
// prints the pointers inside as addresses.
type nonceBuffer struct {
	owner *Nonces
	buf   *[noncesPerRead * nonceSize]byte
	left  int // nonces not yet handed out, at the end of buf
}

// NewNonces returns an empty Nonces; it reads from crypto/rand before its
// first nonce.
func NewNonces() *Nonces { return new(Nonces) }

// next returns a nonce that no other call returns, on n or on any copy
// of n.
func (n *Nonces) next() []byte {
	b := n.st
	if b == nil || b.owner != n {
		b = &nonceBuffer{owner: n, buf: new([noncesPerRead * nonceSize]byte)}
		n.st = b
	}
	if b.left == 0 {
		// crypto/rand.Read never fails (it crashes the program rather
		// than return short), so a refill cannot leave stale bytes.
		rand.Read(b.buf[:])
		b.left = noncesPerRead
	}
	i := (noncesPerRead - b.left) * nonceSize
	b.left--
	return b.buf[i : i+nonceSize : i+nonceSize]
}

// SealNonces is Seal with the nonce taken from n: for bulk paths (a COPY,
// a batch insert, a column migration) where one goroutine seals many
// values. The result is the same format and opens with Open.
func (c *Cipher) SealNonces(dst, plaintext []byte, n *Nonces) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	if n == nil {
		return c.Seal(dst, plaintext)
	}
	nonce := n.next()
	dst = slices.Grow(dst, int(c.hdrLen)+nonceSize+len(plaintext)+tagSize)
	dst = append(dst, c.gcmAAD[:c.hdrLen]...)
	dst = append(dst, nonce...)
	return c.k.gcm.Seal(dst, nonce, plaintext, c.gcmAAD), nil
}

// String, GoString and Format print [redacted]. Their receivers are
// pointers: a Nonces is not to be copied, and a copy prints its buffer as
// an address.
func (n *Nonces) String() string               { return "[redacted]" }
func (n *Nonces) GoString() string             { return "[redacted]" }
func (n *Nonces) Format(f fmt.State, _ rune)   { io.WriteString(f, "[redacted]") }
func (n *Nonces) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// noCopy makes go vet's copylocks check report a Nonces copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
