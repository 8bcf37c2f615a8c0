package cipher

import (
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"unsafe"
)

// AES-SIV (RFC 5297) over crypto/aes, keyed once.
//
// Why not a library: Tink's AES-SIV, which colcrypt used before, builds
// the CMAC (an AES key schedule and two subkeys) and the CMAC of the zero
// block on every call, allocates the ciphertext twice and a CTR stream
// besides, and cannot keep the S2V of associated data that never changes
// (a column's header and scope). That cost 5–20x AES-GCM per value. Here
// everything that depends only on the key, and the S2V state after the
// Cipher's fixed associated data, is computed once per Cipher; a seal is
// then one CMAC over the plaintext and AES-CTR over it, block by block
// through crypto/aes (AES-NI where the CPU has it), writing into the
// output buffer with no other allocation. The bytes are the same: the
// tests check this code against RFC 5297's vectors and, fuzzed, against
// Tink (siv_test.go).
//
// Only what colcrypt needs is here: one associated-data component (the
// S2V vector is [AD, plaintext]), a precomputed or per-call D, no nonce
// component.

const sivBlock = 16

// sivKey is AES-SIV keyed with K1 (S2V's CMAC key) ‖ K2 (the CTR key),
// each half an AES key (16, 24 or 32 bytes; colcrypt uses 32 and 32,
// AEAD_AES_SIV_CMAC_512).
type sivKey struct {
	mac stdcipher.Block // AES under K1
	ctr stdcipher.Block // AES under K2
	// CMAC's subkeys and S2V's dbl(CMAC(0^128)), computed from K1.
	k1, k2, dblZero [sivBlock]byte
}

// errSIVKeySize is returned by newSIVKey for a key that is not two AES
// keys of one size.
var errSIVKeySize = errors.New("codec: AES-SIV key must be 32, 48 or 64 bytes")

// newSIVKey builds the per-key state of AES-SIV. It keeps no reference to
// key.
func newSIVKey(key []byte) (*sivKey, error) {
	if n := len(key); n != 32 && n != 48 && n != 64 {
		return nil, errSIVKeySize
	}
	half := len(key) / 2
	mac, err := aes.NewCipher(key[:half])
	if err != nil {
		return nil, err
	}
	ctr, err := aes.NewCipher(key[half:])
	if err != nil {
		return nil, err
	}
	s := &sivKey{mac: mac, ctr: ctr}
	// RFC 4493 section 2.3: L = AES(K, 0^128), k1 = dbl(L), k2 = dbl(k1).
	mac.Encrypt(s.k1[:], s.k1[:])
	dbl(s.k1[:], s.k1[:])
	dbl(s.k2[:], s.k1[:])
	// RFC 5297 section 2.4: D = CMAC(0^128), doubled before the first
	// AD is mixed in.
	s.cmac(s.dblZero[:], make([]byte, sivBlock), nil)
	dbl(s.dblZero[:], s.dblZero[:])
	return s, nil
}

// adState sets d to S2V's D after one associated-data component ad:
// dbl(CMAC(0^128)) xor CMAC(ad). d is 16 bytes.
func (s *sivKey) adState(d, ad []byte) {
	s.cmac(d, ad, nil)
	xorBlock(d, d, s.dblZero[:])
}

// seal appends V ‖ C, AES-SIV of plaintext under the S2V state d (from
// adState), to dst. With dst nil and plaintext not overlapping, it
// allocates once.
func (s *sivKey) seal(dst, plaintext, d []byte) []byte {
	n := len(plaintext)
	// sivBlock bytes of scratch past the end, for a partial last CTR
	// block, so that no buffer of the call's own escapes to the heap.
	ret, out := sliceForAppend(dst, sivBlock+n+sivBlock)
	ret = ret[:len(ret)-sivBlock]
	if anyOverlap(out, plaintext) {
		plaintext = append([]byte(nil), plaintext...)
	}
	v, c, scratch := out[:sivBlock:sivBlock], out[sivBlock:sivBlock+n:sivBlock+n], out[sivBlock+n:]
	s.s2vFinal(v, plaintext, d)
	s.ctrXOR(c, plaintext, v, scratch)
	clear(scratch)
	return ret
}

// open appends the plaintext of sealed (V ‖ C) under the S2V state d to
// dst, or reports false, leaving no plaintext behind, if V does not
// authenticate. The comparison is constant-time.
func (s *sivKey) open(dst, sealed, d []byte) ([]byte, bool) {
	if len(sealed) < sivBlock {
		return nil, false
	}
	v, c := sealed[:sivBlock], sealed[sivBlock:]
	n := len(c)
	ret, out := sliceForAppend(dst, n+sivBlock)
	ret = ret[:len(ret)-sivBlock]
	if anyOverlap(out, sealed) {
		sealed = append([]byte(nil), sealed...)
		v, c = sealed[:sivBlock], sealed[sivBlock:]
	}
	p, scratch := out[:n:n], out[n:]
	s.ctrXOR(p, c, v, scratch)
	s.s2vFinal(scratch, p, d)
	ok := subtle.ConstantTimeCompare(scratch, v) == 1
	clear(scratch)
	if !ok {
		clear(p)
		return nil, false
	}
	return ret, true
}

// s2vFinal sets v to S2V's output for the last component, the plaintext
// p, after the state d (RFC 5297 section 2.4): CMAC(p xorend d) for p of
// a block or more, else CMAC(dbl(d) xor pad(p)).
func (s *sivKey) s2vFinal(v, p, d []byte) {
	if len(p) >= sivBlock {
		s.cmac(v, p, d)
		return
	}
	dbl(v, d)
	subtle.XORBytes(v, v, p)
	v[len(p)] ^= 0x80
	// dbl(d) xor pad(p) is one complete block: CMAC's last-block subkey
	// is k1.
	xorBlock(v, v, s.k1[:])
	s.mac.Encrypt(v, v)
}

// cmac sets x (16 bytes) to AES-CMAC (RFC 4493) of m under K1, with xorEnd,
// if not nil, XORed onto the last 16 bytes of m on the way (S2V's
// "xorend", without a copy of m; m must then be a block or longer).
func (s *sivKey) cmac(x, m, xorEnd []byte) {
	clear(x)
	n := len(m)
	start := n - sivBlock // where xorEnd begins in m
	off := 0
	for ; off+sivBlock < n; off += sivBlock {
		xorBlock(x, x, m[off:off+sivBlock])
		if xorEnd != nil && off+sivBlock > start {
			xorOverlap(x, off, sivBlock, start, xorEnd)
		}
		s.mac.Encrypt(x, x)
	}
	last := m[off:] // 0 to 16 bytes
	subtle.XORBytes(x, x, last)
	if xorEnd != nil {
		xorOverlap(x, off, len(last), start, xorEnd)
	}
	if len(last) == sivBlock {
		xorBlock(x, x, s.k1[:])
	} else {
		x[len(last)] ^= 0x80
		xorBlock(x, x, s.k2[:])
	}
	s.mac.Encrypt(x, x)
}

// xorOverlap XORs onto x, the block of m at off of length l, the bytes of
// e (16 bytes placed at m[start:]) that fall inside it.
func xorOverlap(x []byte, off, l, start int, e []byte) {
	if lo := max(off, start); lo < off+l {
		subtle.XORBytes(x[lo-off:l], x[lo-off:l], e[lo-start:])
	}
}

// ctrXOR sets dst to src XOR AES-CTR(K2) from the counter v with bits 31
// and 63 cleared (RFC 5297 section 2.5), a 128-bit big-endian counter
// that wraps. Each keystream block is made in place in dst; scratch (16
// bytes) takes the last one if it is partial.
func (s *sivKey) ctrXOR(dst, src, v, scratch []byte) {
	hi := binary.BigEndian.Uint64(v[0:8])
	lo := binary.BigEndian.Uint64(v[8:16]) &^ (1<<63 | 1<<31)
	n := len(src)
	off := 0
	for ; off+sivBlock <= n; off += sivBlock {
		b := dst[off : off+sivBlock]
		binary.BigEndian.PutUint64(b[0:8], hi)
		binary.BigEndian.PutUint64(b[8:16], lo)
		s.ctr.Encrypt(b, b)
		xorBlock(b, b, src[off:off+sivBlock])
		lo++
		if lo == 0 {
			hi++
		}
	}
	if off < n {
		binary.BigEndian.PutUint64(scratch[0:8], hi)
		binary.BigEndian.PutUint64(scratch[8:16], lo)
		s.ctr.Encrypt(scratch, scratch)
		subtle.XORBytes(dst[off:], scratch, src[off:])
	}
}

// xorBlock sets dst to a XOR b, 16 bytes each, in two words: cheaper
// than crypto/subtle.XORBytes's general loop for the one length S2V and
// CTR use block after block.
func xorBlock(dst, a, b []byte) {
	_, _, _ = dst[15], a[15], b[15]
	binary.LittleEndian.PutUint64(dst[0:8], binary.LittleEndian.Uint64(a[0:8])^binary.LittleEndian.Uint64(b[0:8]))
	binary.LittleEndian.PutUint64(dst[8:16], binary.LittleEndian.Uint64(a[8:16])^binary.LittleEndian.Uint64(b[8:16]))
}

// dbl sets dst to src times x in GF(2^128) (RFC 5297 section 2.3), in
// constant time; dst may be src.
func dbl(dst, src []byte) {
	hi := binary.BigEndian.Uint64(src[0:8])
	lo := binary.BigEndian.Uint64(src[8:16])
	carry := hi >> 63
	binary.BigEndian.PutUint64(dst[0:8], hi<<1|lo>>63)
	binary.BigEndian.PutUint64(dst[8:16], lo<<1^(0x87&-carry))
}

// sliceForAppend extends in by n bytes, returning the whole slice and the
// n new bytes (crypto/cipher's idiom): one allocation when in lacks room.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// anyOverlap reports whether x and y share memory, so that writing x
// would change y under the caller's feet.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}
