package codec

import (
	"crypto/rand"
	"errors"
	"slices"
)

// noncesPerRead is how many GCM nonces a Nonces buffer reads from
// crypto/rand at once.
const noncesPerRead = 256

// Nonces hands out random AES-GCM nonces to one goroutine that seals many
// values, read from crypto/rand noncesPerRead at a time.
//
// Why: Cipher.Seal draws each nonce inside the AEAD with one call to the
// system's random generator, which costs about as much as sealing a short
// value and, on the machines measured, does not scale across cores (the
// per-call part of the kernel's generator is shared). Reading the same
// generator in bulk costs half per nonce and scales. The nonces are the
// same: 96 random bits each, from crypto/rand, each used once; the stored
// value is byte for byte the format Seal writes.
//
// A Nonces is not safe for concurrent use: give each goroutine its own.
// Its zero value is ready: it reads before handing out its first nonce.
// Nonces are not secret (each is stored in the clear in its value), so
// the buffer needs no zeroing.
type Nonces struct {
	buf  [noncesPerRead * nonceSize]byte
	left int // nonces not yet handed out, at the end of buf
}

// next returns a nonce that no other call returns.
func (n *Nonces) next() []byte {
	if n.left == 0 {
		// crypto/rand.Read never fails (it crashes the program rather
		// than return short), so a refill cannot leave stale bytes.
		rand.Read(n.buf[:])
		n.left = noncesPerRead
	}
	i := (noncesPerRead - n.left) * nonceSize
	n.left--
	return n.buf[i : i+nonceSize : i+nonceSize]
}

// SealNonces is Seal with the nonce taken from n: for bulk paths (a COPY,
// a batch insert, a column migration) where one goroutine seals many
// values. The result is the same format and opens with Open.
func (c *Cipher) SealNonces(dst, plaintext []byte, n *Nonces) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	if n == nil {
		return c.Seal(dst, plaintext)
	}
	nonce := n.next()
	dst = slices.Grow(dst, len(c.gcmHdr)+nonceSize+len(plaintext)+tagSize)
	dst = append(dst, c.gcmHdr...)
	dst = append(dst, nonce...)
	return c.k.gcmOpen.Seal(dst, nonce, plaintext, c.gcmAAD), nil
}
