package cipher

import (
	"fmt"
	"hash"
)

// Blind index lengths, in bytes. Shorter indexes collide more, which hides
// some equality at the price of false positives the caller filters out
// after decrypting; 16 bytes makes collisions negligible.
const (
	MinBlindIndexLen     = 2
	MaxBlindIndexLen     = 32
	DefaultBlindIndexLen = 16
)

// BlindIndex appends to dst the HMAC-SHA256, under the scope's blind-index
// subkey, of the already normalized plaintext, truncated to length bytes.
// It panics if length is outside [MinBlindIndexLen, MaxBlindIndexLen]: the
// length is configuration, checked where it is parsed. After Destroy it
// returns ErrCipherDestroyed.
func (c *Cipher) BlindIndex(dst, normalized []byte, length int) ([]byte, error) {
	if length < MinBlindIndexLen || length > MaxBlindIndexLen {
		panic(fmt.Sprintf("codec: blind index length %d outside [%d, %d]", length, MinBlindIndexLen, MaxBlindIndexLen))
	}
	b, l, err := c.bidxState()
	if err != nil {
		return nil, err
	}
	// The read lock keeps Destroy from clearing the subkey while the pool
	// derives a new hash from it, and from emptying the pool before the
	// hash is back in it.
	l.mu.RLock()
	defer l.mu.RUnlock()
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	h := b.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(normalized)
	var sum [32]byte
	full := h.Sum(sum[:0])
	b.pool.Put(h)
	return append(dst, full[:length]...), nil
}
