package sqltypes

import "sync"

// Plaintext buffers: a value that is decoded rather than kept (a string
// built from it, a number parsed from it) is opened into a pooled buffer,
// so reading it allocates only what the caller keeps. A buffer is cleared
// before it goes back, so no plaintext stays in the pool; one grown past
// maxPooledPlain by a large value is dropped instead, so a rare large
// value does not pin its memory.

const (
	plainBufSize   = 256
	maxPooledPlain = 64 << 10
)

var plainBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, plainBufSize)
	return &b
}}

// getPlainBuf returns an empty buffer from the pool.
func getPlainBuf() *[]byte {
	b := plainBufs.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// putPlainBuf clears the plaintext in *b, up to its length (whoever used
// it last set it to what was opened into it), and pools it again.
func putPlainBuf(b *[]byte) {
	clear(*b)
	if cap(*b) > maxPooledPlain {
		return
	}
	plainBufs.Put(b)
}
