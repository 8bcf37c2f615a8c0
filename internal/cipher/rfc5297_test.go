package cipher

// A test-only reference implementation of AES-CMAC (RFC 4493) and AES-SIV
// (RFC 5297), written for clarity, not speed or constant time. NOT for use
// outside tests. It exists because Tink's AESSIV only takes 64-byte keys
// (AEAD_AES_SIV_CMAC_512) while RFC 5297's appendix vectors use 32-byte
// keys: the reference is checked against the RFC's vectors, then Tink is
// checked against the reference with random 64-byte keys, which ties the
// library codec uses to the RFC.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	tinksubtle "github.com/tink-crypto/tink-go/v2/daead/subtle"

	"github.com/colcrypt/colcrypt/codec"
)

const refBlock = 16

// refDbl is multiplication by x in GF(2^128) with the polynomial
// x^128 + x^7 + x^2 + x + 1: "dbl" in RFC 5297 section 2.3, the subkey
// step of RFC 4493 section 2.3.
func refDbl(in [refBlock]byte) [refBlock]byte {
	var out [refBlock]byte
	for i := 0; i < refBlock-1; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[refBlock-1] = in[refBlock-1] << 1
	if in[0]&0x80 != 0 {
		out[refBlock-1] ^= 0x87
	}
	return out
}

func refXOR(a, b [refBlock]byte) [refBlock]byte {
	for i := range a {
		a[i] ^= b[i]
	}
	return a
}

// refPad is RFC 4493's padding: x ‖ 10^i up to one block (len(x) < 16).
func refPad(x []byte) [refBlock]byte {
	var out [refBlock]byte
	copy(out[:], x)
	out[len(x)] = 0x80
	return out
}

// refCMAC is AES-CMAC (RFC 4493) over AES with any key size.
type refCMAC struct {
	b      cipher.Block
	k1, k2 [refBlock]byte
}

func newRefCMAC(key []byte) *refCMAC {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	var l [refBlock]byte
	b.Encrypt(l[:], l[:]) // L = AES(K, 0^128)
	k1 := refDbl(l)
	return &refCMAC{b: b, k1: k1, k2: refDbl(k1)}
}

// mac is RFC 4493 section 2.4, step by step.
func (m *refCMAC) mac(msg []byte) [refBlock]byte {
	n := (len(msg) + refBlock - 1) / refBlock
	complete := n > 0 && len(msg)%refBlock == 0
	if n == 0 {
		n = 1
	}
	var last [refBlock]byte
	if complete {
		copy(last[:], msg[(n-1)*refBlock:])
		last = refXOR(last, m.k1)
	} else {
		last = refXOR(refPad(msg[(n-1)*refBlock:]), m.k2)
	}
	var x [refBlock]byte
	for i := 0; i < n-1; i++ {
		var mi [refBlock]byte
		copy(mi[:], msg[i*refBlock:])
		y := refXOR(x, mi)
		m.b.Encrypt(x[:], y[:])
	}
	y := refXOR(x, last)
	var t [refBlock]byte
	m.b.Encrypt(t[:], y[:])
	return t
}

// refS2V is RFC 5297 section 2.4 over the strings S1..Sn (the last one
// being the plaintext). trace, if not nil, receives the intermediate D
// values the RFC's appendix prints.
func refS2V(key []byte, strs [][]byte, trace func(step string, v []byte)) [refBlock]byte {
	m := newRefCMAC(key)
	if trace == nil {
		trace = func(string, []byte) {}
	}
	if len(strs) == 0 {
		var one [refBlock]byte
		one[refBlock-1] = 1
		return m.mac(one[:])
	}
	var zero [refBlock]byte
	d := m.mac(zero[:])
	trace("CMAC(zero)", d[:])
	for _, s := range strs[:len(strs)-1] {
		d = refXOR(refDbl(d), m.mac(s))
		trace("xor", d[:])
	}
	sn := strs[len(strs)-1]
	var t []byte
	if len(sn) >= refBlock {
		// xorend: D XORed onto the last 16 bytes of Sn.
		t = bytes.Clone(sn)
		for i := range refBlock {
			t[len(t)-refBlock+i] ^= d[i]
		}
	} else {
		x := refXOR(refDbl(d), refPad(sn))
		t = x[:]
	}
	trace("final input", t)
	return m.mac(t)
}

// refCTR is AES-CTR with a 128-bit big-endian counter that wraps mod 2^128.
func refCTR(key []byte, iv [refBlock]byte, in []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, len(in))
	ctr := iv
	var ks [refBlock]byte
	for off := 0; off < len(in); off += refBlock {
		b.Encrypt(ks[:], ctr[:])
		for i := 0; i < refBlock && off+i < len(in); i++ {
			out[off+i] = in[off+i] ^ ks[i]
		}
		for i := refBlock - 1; i >= 0; i-- {
			ctr[i]++
			if ctr[i] != 0 {
				break
			}
		}
	}
	return out
}

// refSIVCtr clears the 31st and 63rd bits (from the right) of V, RFC 5297
// section 2.6, so implementations may use 32-bit counters.
func refSIVCtr(v [refBlock]byte) [refBlock]byte {
	v[8] &= 0x7f
	v[12] &= 0x7f
	return v
}

// refSIVSeal is SIV-ENCRYPT (RFC 5297 section 2.6): key is K1 (S2V/CMAC)
// ‖ K2 (CTR), each half an AES key; the output is V ‖ C.
func refSIVSeal(key, plaintext []byte, ads ...[]byte) []byte {
	half := len(key) / 2
	strs := append(append([][]byte{}, ads...), plaintext)
	v := refS2V(key[:half], strs, nil)
	c := refCTR(key[half:], refSIVCtr(v), plaintext)
	return append(v[:], c...)
}

// refSIVOpen is SIV-DECRYPT (RFC 5297 section 2.7).
func refSIVOpen(key, sealed []byte, ads ...[]byte) ([]byte, error) {
	if len(sealed) < refBlock {
		return nil, errors.New("short")
	}
	half := len(key) / 2
	var v [refBlock]byte
	copy(v[:], sealed)
	p := refCTR(key[half:], refSIVCtr(v), sealed[refBlock:])
	strs := append(append([][]byte{}, ads...), p)
	t := refS2V(key[:half], strs, nil)
	if subtle.ConstantTimeCompare(t[:], v[:]) != 1 {
		return nil, errors.New("fail")
	}
	return p, nil
}

// unhex decodes hex written with spaces, as the RFCs print it.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestRefCMACRFC4493 checks the reference CMAC against RFC 4493 section 4.
func TestRefCMACRFC4493(t *testing.T) {
	checkRFC4493(t, func(key []byte) (k1, k2 []byte, mac func([]byte) []byte) {
		m := newRefCMAC(key)
		return m.k1[:], m.k2[:], func(msg []byte) []byte { tag := m.mac(msg); return tag[:] }
	})
}

// checkRFC4493 checks a CMAC against RFC 4493 section 4: its subkeys,
// and its tags over the first 0, 16, 40 and 64 bytes of the example
// message.
func checkRFC4493(t *testing.T, newCMAC func(key []byte) (k1, k2 []byte, mac func([]byte) []byte)) {
	t.Helper()
	k1, k2, mac := newCMAC(unhex(t, "2b7e1516 28aed2a6 abf71588 09cf4f3c"))
	if want := unhex(t, "fbeed618 35713366 7c85e08f 7236a8de"); !bytes.Equal(k1, want) {
		t.Errorf("K1 = %x, want %x", k1, want)
	}
	if want := unhex(t, "f7ddac30 6ae266cc f90bc11e e46d513b"); !bytes.Equal(k2, want) {
		t.Errorf("K2 = %x, want %x", k2, want)
	}
	msg := unhex(t, `6bc1bee2 2e409f96 e93d7e11 7393172a
		ae2d8a57 1e03ac9c 9eb76fac 45af8e51
		30c81c46 a35ce411 e5fbc119 1a0a52ef
		f69f2445 df4f9b17 ad2b417b e66c3710`)
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "bb1d6929 e9593728 7fa37d12 9b756746"},
		{16, "070a16b4 6b4d4144 f79bdd9d d04a287c"},
		{40, "dfa66747 de9ae630 30ca3261 1497c827"},
		{64, "51f0bebf 7e3b9d92 fc497417 79363cfe"},
	} {
		if got, want := mac(msg[:tc.n]), unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("AES-CMAC(M[:%d]) = %x, want %x", tc.n, got, want)
		}
	}
}

// TestRefSIVRFC5297 checks the reference against RFC 5297 appendix A,
// intermediate values included.
func TestRefSIVRFC5297(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key       string
		ads       []string
		plaintext string
		trace     []string // CMAC(zero), then the D after each AD
		want      string   // V ‖ C
	}{{
		name:      "A.1 deterministic",
		key:       "fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff",
		ads:       []string{"10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627"},
		plaintext: "11223344 55667788 99aabbcc ddee",
		trace: []string{
			"0e04dfaf c1efbf04 01405828 59bf073a",
			"edf09de8 76c642ee 4d78bce4 ceedfc4f",
			// dbl(D) xor pad(plaintext)
			"cac30894 b8eaf254 035bc205 40357819",
		},
		want: `85632d07 c6e8f37f 950acd32 0a2ecc93
		       40c02b96 90c4dc04 daef7f6a fe5c`,
	}, {
		name: "A.2 nonce-based, multiple AD",
		key:  "7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f",
		ads: []string{
			`00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100`,
			"10203040 50607080 90a0",
			"09f91102 9d74e35b d84156c5 635688c0", // the nonce is the last AD
		},
		plaintext: `74686973 20697320 736f6d65 20706c61 696e7465 78742074
		            6f20656e 63727970 74207573 696e6720 5349562d 414553`,
		trace: []string{
			"c8b43b59 74960e7c e6a5dd85 231e591a",
			"adf31e28 5d3d1e1d 4ddefc1e 5bec63e9",
			"826aa75b 5e568eed 3125bfb2 66c61d4e",
			"16592c17 729a5a72 55676361 68b48376",
			// xorend
			`74686973 20697320 736f6d65 20706c61 696e7465 78742074
			 6f20656e 63727966 2d0c6201 f3341575 342a3745 f5c625`,
		},
		want: `7bdb6e3b 432667eb 06f4d14b ff2fbd0f
		       cb900f2f ddbe4043 26601965 c889bf17
		       dba77ceb 094fa663 b7a3f748 ba8af829
		       ea64ad54 4a272e9c 485b62a3 fd5c0d`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			key, pt, want := unhex(t, tc.key), unhex(t, tc.plaintext), unhex(t, tc.want)
			var ads [][]byte
			for _, a := range tc.ads {
				ads = append(ads, unhex(t, a))
			}
			var trace [][]byte
			refS2V(key[:16], append(append([][]byte{}, ads...), pt), func(_ string, v []byte) {
				trace = append(trace, bytes.Clone(v))
			})
			if len(trace) != len(tc.trace) {
				t.Fatalf("S2V trace has %d steps, want %d", len(trace), len(tc.trace))
			}
			for i, w := range tc.trace {
				if !bytes.Equal(trace[i], unhex(t, w)) {
					t.Errorf("S2V step %d = %x, want %s", i, trace[i], w)
				}
			}
			got := refSIVSeal(key, pt, ads...)
			if !bytes.Equal(got, want) {
				t.Fatalf("refSIVSeal = %x, want %x", got, want)
			}
			back, err := refSIVOpen(key, got, ads...)
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("refSIVOpen = %x, %v, want %x", back, err, pt)
			}
			bad := bytes.Clone(got)
			bad[len(bad)-1] ^= 1
			if _, err := refSIVOpen(key, bad, ads...); err == nil {
				t.Fatal("refSIVOpen(tampered) succeeded")
			}
		})
	}
}

// TestTinkAESSIVMatchesReference ties Tink's AESSIV (64-byte keys, one AD)
// to the RFC-checked reference.
func TestTinkAESSIVMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5297, 1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	// Lengths around the block boundaries matter most (S2V's pad versus
	// xorend branch, CMAC's complete versus padded last block).
	lens := []int{0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 64, 100, 255}
	for i := range n {
		key := randBytes(rng, tinksubtle.AESSIVKeySize)
		pl, al := lens[i%len(lens)], lens[(i/len(lens))%len(lens)]
		if i >= len(lens)*len(lens) {
			pl, al = rng.IntN(300), rng.IntN(300)
		}
		pt, ad := randBytes(rng, pl), randBytes(rng, al)
		siv, err := tinksubtle.NewAESSIV(bytes.Clone(key))
		if err != nil {
			t.Fatal(err)
		}
		got, err := siv.EncryptDeterministically(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		want := refSIVSeal(key, pt, ad)
		if !bytes.Equal(got, want) {
			t.Fatalf("Tink AES-SIV(key=%x, pt=%x, ad=%x) = %x, reference %x", key, pt, ad, got, want)
		}
		back, err := siv.DecryptDeterministically(want, ad)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("Tink Decrypt(reference output) = %x, %v, want %x", back, err, pt)
		}
		if back, err := refSIVOpen(key, got, ad); err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("refSIVOpen(Tink output) = %x, %v, want %x", back, err, pt)
		}
	}
}

// TestSealDeterministicMatchesReference checks codec's deterministic mode
// end to end against the reference: value = header ‖ AES-SIV(siv subkey,
// AD = [header ‖ canonical scope], plaintext), the subkey derived here with
// crypto/hkdf from the spec, not by codec.
func TestSealDeterministicMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5297, 2))
	for i := range 200 {
		dek := randBytes(rng, DEKSize)
		version := []uint32{1, 127, 128, 300, 1 << 31, ^uint32(0)}[i%6]
		s := codec.Scope{Tenant: randString(rng, 20), Table: randString(rng, 10), Column: randString(rng, 10)}
		pt := randBytes(rng, rng.IntN(100))
		c, err := NewCipher(dek, version, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.SealDeterministic(nil, pt)
		if err != nil {
			t.Fatal(err)
		}
		want := specSealSIV(dek, version, s.Tenant, s.Table, s.Column, pt)
		if !bytes.Equal(got, want) {
			t.Fatalf("SealDeterministic(%x) under %+v v%d = %x, reference %x", pt, s, version, got, want)
		}
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// randString returns up to n random bytes, not necessarily UTF-8: scope
// parts are opaque byte strings to codec.
func randString(rng *rand.Rand, n int) string { return string(randBytes(rng, rng.IntN(n+1))) }
