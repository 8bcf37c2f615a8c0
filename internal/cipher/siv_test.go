package cipher

import (
	"bytes"
	"crypto/subtle"
	"testing"

	tinksubtle "github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// sivD is S2V's state after any number of associated-data components,
// built from the production primitives (the code itself takes exactly
// one): D = CMAC(0^128), then D = dbl(D) xor CMAC(S_i) for each.
func sivD(s *sivKey, ads ...[]byte) []byte {
	d := make([]byte, sivBlock)
	s.cmac(d, make([]byte, sivBlock), nil)
	x := make([]byte, sivBlock)
	for _, ad := range ads {
		dbl(d, d)
		s.cmac(x, ad, nil)
		subtle.XORBytes(d, d, x)
	}
	return d
}

// TestSIVCMACRFC4493 checks the CMAC of siv.go, subkeys included,
// against RFC 4493 section 4 (AES-128; the S2V half of a 32-byte SIV
// key).
func TestSIVCMACRFC4493(t *testing.T) {
	checkRFC4493(t, func(key []byte) (k1, k2 []byte, mac func([]byte) []byte) {
		s, err := newSIVKey(append(bytes.Clone(key), key...))
		if err != nil {
			t.Fatal(err)
		}
		return s.k1[:], s.k2[:], func(msg []byte) []byte {
			tag := make([]byte, sivBlock)
			s.cmac(tag, msg, nil)
			return tag
		}
	})
}

// TestSIVRFC5297 checks seal and open of siv.go against RFC 5297
// appendix A: A.1 (one associated-data component, as colcrypt uses it)
// through adState, A.2 (three components, the nonce last) through sivD.
func TestSIVRFC5297(t *testing.T) {
	for _, tc := range []struct {
		name, key, plaintext, want string
		ads                        []string
	}{{
		name:      "A.1 deterministic",
		key:       "fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff",
		ads:       []string{"10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627"},
		plaintext: "11223344 55667788 99aabbcc ddee",
		want:      "85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c",
	}, {
		name: "A.2 nonce-based, multiple AD",
		key:  "7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f",
		ads: []string{
			"00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100",
			"10203040 50607080 90a0",
			"09f91102 9d74e35b d84156c5 635688c0",
		},
		plaintext: `74686973 20697320 736f6d65 20706c61 696e7465 78742074
		            6f20656e 63727970 74207573 696e6720 5349562d 414553`,
		want: `7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17
		       dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSIVKey(unhex(t, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			var ads [][]byte
			for _, a := range tc.ads {
				ads = append(ads, unhex(t, a))
			}
			d := sivD(s, ads...)
			if len(ads) == 1 {
				one := make([]byte, sivBlock)
				s.adState(one, ads[0])
				if !bytes.Equal(one, d) {
					t.Fatalf("adState = %x, S2V by hand %x", one, d)
				}
			}
			pt, want := unhex(t, tc.plaintext), unhex(t, tc.want)
			if got := s.seal(nil, pt, d); !bytes.Equal(got, want) {
				t.Fatalf("seal = %x, want %x", got, want)
			}
			back, ok := s.open([]byte("prefix"), want, d)
			if !ok || !bytes.Equal(back, append([]byte("prefix"), pt...)) {
				t.Fatalf("open = %q, %v, want prefix ‖ plaintext", back, ok)
			}
			for i := range len(want) * 8 {
				bad := bytes.Clone(want)
				bad[i/8] ^= 1 << (i % 8)
				if got, ok := s.open(nil, bad, d); ok || got != nil {
					t.Fatalf("open(bit %d flipped) = %x, %v, want nil, false", i, got, ok)
				}
			}
		})
	}
}

// TestSIVOverlap checks that seal and open give the same bytes when the
// output buffer overlaps the input (a caller reusing one buffer).
func TestSIVOverlap(t *testing.T) {
	s, err := newSIVKey(patterned(sivKeyLen, 7))
	if err != nil {
		t.Fatal(err)
	}
	d := sivD(s, []byte("ad"))
	for _, n := range []int{0, 5, 16, 33, 64} {
		pt := patterned(n, byte(n))
		want := s.seal(nil, pt, d)
		buf := make([]byte, 0, 256)
		buf = append(buf, pt...)
		if got := s.seal(buf[:0], buf[:n], d); !bytes.Equal(got, want) {
			t.Fatalf("seal into its own plaintext (%d bytes) = %x, want %x", n, got, want)
		}
		buf = append(buf[:0], want...)
		if got, ok := s.open(buf[:0], buf[:len(want)], d); !ok || !bytes.Equal(got, pt) {
			t.Fatalf("open into its own input (%d bytes) = %x, %v, want %x", n, got, ok, pt)
		}
	}
}

// FuzzSIVMatchesTink checks siv.go differentially against Tink's AES-SIV
// (AEAD_AES_SIV_CMAC_512, one associated-data component), which colcrypt
// used before and which stays a test dependency for this: equal output for
// every key, associated data and plaintext, each opens the other's output,
// and a flipped bit fails in both.
func FuzzSIVMatchesTink(f *testing.F) {
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 1024} {
		f.Add(byte(n), patterned(n%40, 3), patterned(n, byte(n)), uint16(n))
	}
	f.Fuzz(func(t *testing.T, seed byte, ad, pt []byte, flip uint16) {
		key := patterned(sivKeyLen, seed)
		s, err := newSIVKey(key)
		if err != nil {
			t.Fatal(err)
		}
		tink, err := tinksubtle.NewAESSIV(bytes.Clone(key))
		if err != nil {
			t.Fatal(err)
		}
		d := make([]byte, sivBlock)
		s.adState(d, ad)
		got := s.seal(nil, pt, d)
		want, err := tink.EncryptDeterministically(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("seal(ad=%x, pt=%x) = %x, Tink %x", ad, pt, got, want)
		}
		if back, ok := s.open(nil, want, d); !ok || !bytes.Equal(back, pt) {
			t.Fatalf("open(Tink's output) = %x, %v, want %x", back, ok, pt)
		}
		if back, err := tink.DecryptDeterministically(got, ad); err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("Tink Decrypt(seal output) = %x, %v, want %x", back, err, pt)
		}
		bad := bytes.Clone(got)
		i := int(flip) % (len(bad) * 8)
		bad[i/8] ^= 1 << (i % 8)
		if back, ok := s.open(nil, bad, d); ok || back != nil {
			t.Fatalf("open(bit %d flipped) = %x, %v, want failure", i, back, ok)
		}
		if _, err := tink.DecryptDeterministically(bad, ad); err == nil {
			t.Fatalf("Tink Decrypt(bit %d flipped) succeeded", i)
		}
	})
}

// TestSIVKeySize checks that newSIVKey takes two AES keys of one size
// and nothing else.
func TestSIVKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 63, 65, 128} {
		if _, err := newSIVKey(make([]byte, n)); err != errSIVKeySize {
			t.Errorf("newSIVKey(%d bytes) err = %v, want errSIVKeySize", n, err)
		}
	}
	for _, n := range []int{32, 48, 64} {
		if _, err := newSIVKey(make([]byte, n)); err != nil {
			t.Errorf("newSIVKey(%d bytes) err = %v", n, err)
		}
	}
}

// TestSIVOpenFailureLeavesNoPlaintext checks that an open that fails to
// authenticate leaves no decrypted byte in the caller's buffer, nor any
// keystream or tag in its spare capacity.
func TestSIVOpenFailureLeavesNoPlaintext(t *testing.T) {
	s, err := newSIVKey(patterned(sivKeyLen, 9))
	if err != nil {
		t.Fatal(err)
	}
	d := sivD(s, []byte("ad"))
	for _, n := range []int{1, 16, 40} {
		sealed := s.seal(nil, patterned(n, 1), d)
		sealed[0] ^= 1
		buf := make([]byte, 3, 128)
		if got, ok := s.open(buf, sealed, d); ok || got != nil {
			t.Fatalf("open(tampered) = %x, %v, want failure", got, ok)
		}
		if tail := buf[3:cap(buf)]; !allZero(tail) {
			t.Fatalf("open(tampered, %d bytes) left %x in the buffer", n, tail)
		}
	}
}
