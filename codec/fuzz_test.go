package codec

import (
	"bytes"
	"testing"
)

// Every fuzz target seeds from testdata/vectors.json plus hand-picked edge
// cases, and fails at setup if the vector seeds come out empty: a seed
// corpus that silently matches nothing makes a fuzz test that tests
// nothing. Run one with, for example:
//
//	go test -run='^$' -fuzz=FuzzOpen -fuzztime=20s ./codec/
//
// Crashers land in testdata/fuzz/<FuzzName>/ and stay there as regression
// seeds that plain `go test` runs.

// vectorValues returns every binary and armored value in the vectors.
func vectorValues(f *testing.F) (values, armored [][]byte) {
	f.Helper()
	for _, v := range loadVectors(f) {
		values = append(values, mustHex(f, v.GCM.Value), mustHex(f, v.SIV.Value))
		armored = append(armored, []byte(v.GCM.Armored), []byte(v.SIV.Armored))
	}
	if len(values) == 0 || len(armored) == 0 {
		f.Fatal("no seed values from testdata/vectors.json")
	}
	return values, armored
}

// edgeValues are hand-picked inputs around the parser's boundaries.
var edgeValues = [][]byte{
	nil, {}, {Magic}, {Magic, 1}, {Magic, 2}, {Magic, 1, 1}, {Magic, 2, 1},
	{Magic, 1, 0}, {Magic, 3, 1}, {Magic, 0, 1}, {0xC1, 1, 1},
	{Magic, 1, 0x80}, {Magic, 1, 0x81, 0x00}, {Magic, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	{Magic, 1, 0xff, 0xff, 0xff, 0xff, 0x10},
	{Magic, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	value(27, Magic, 1, 1), value(28, Magic, 1, 1), value(15, Magic, 2, 1), value(16, Magic, 2, 1),
	value(28, Magic, 1, 0x80, 0x01), []byte("$cc1$"), []byte("plain text"),
}

func FuzzParse(f *testing.F) {
	values, _ := vectorValues(f)
	for _, v := range append(values, edgeValues...) {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Parse(b)
		if err != nil {
			if err != ErrMalformed && err != ErrUnsupported {
				t.Fatalf("Parse(%x) err = %v, want ErrMalformed or ErrUnsupported", b, err)
			}
			return
		}
		// A parsed value is exactly its parts, its header the canonical
		// encoding of what was parsed, and its lengths within bounds.
		if !bytes.Equal(v.Header, specHeader(byte(v.Algorithm), v.KeyVersion)) {
			t.Fatalf("Parse(%x) header %x is not the canonical header of %v v%d", b, v.Header, v.Algorithm, v.KeyVersion)
		}
		if got := len(v.Header) + len(v.Nonce) + len(v.Ciphertext); got != len(b) || len(b) > MaxValueSize {
			t.Fatalf("Parse(%x) parts add up to %d bytes, input %d", b, got, len(b))
		}
		if !bytes.Equal(append(append(bytes.Clone(v.Header), v.Nonce...), v.Ciphertext...), b) {
			t.Fatalf("Parse(%x) parts do not concatenate to the input", b)
		}
		switch v.Algorithm {
		case AESGCM:
			if len(v.Nonce) != nonceSize || len(v.Ciphertext) < tagSize {
				t.Fatalf("Parse(%x) GCM nonce %d bytes, ciphertext %d", b, len(v.Nonce), len(v.Ciphertext))
			}
		case AESSIV:
			if len(v.Nonce) != 0 || len(v.Ciphertext) < sivSize {
				t.Fatalf("Parse(%x) SIV nonce %d bytes, ciphertext %d", b, len(v.Nonce), len(v.Ciphertext))
			}
		default:
			t.Fatalf("Parse(%x) accepted algorithm %d", b, v.Algorithm)
		}
		if v.KeyVersion == 0 || !IsValue(b) {
			t.Fatalf("Parse(%x) accepted version 0 or a bad magic byte", b)
		}
	})
}

func FuzzDearmor(f *testing.F) {
	values, armored := vectorValues(f)
	for _, a := range armored {
		f.Add(a)
		f.Add(append(bytes.Clone(a), '\n'))
		f.Add(append(bytes.Clone(a), '='))
	}
	for _, v := range append(values, edgeValues...) {
		f.Add(Armor(nil, v))
		f.Add(v)
	}
	f.Add([]byte("$cc1$wA"))
	f.Add([]byte("$cc1$wB"))
	f.Add([]byte("$cc1$wA==\r\n"))
	f.Fuzz(func(t *testing.T, s []byte) {
		v, err := Dearmor(s)
		if err != nil {
			if err != ErrMalformed || v != nil {
				t.Fatalf("Dearmor(%q) = %x, %v, want nil, ErrMalformed", s, v, err)
			}
			return
		}
		// Strict means one armored form per value.
		if back := Armor(nil, v); !bytes.Equal(back, s) {
			t.Fatalf("Dearmor(%q) = %x, which armors back to %q", s, v, back)
		}
		if !IsValue(v) || !IsArmored(s) {
			t.Fatalf("Dearmor(%q) accepted a non-value %x", s, v)
		}
	})
}

// fuzzCipher is one vector's cipher and the values that genuinely open
// under it.
type fuzzCipher struct {
	c         *Cipher
	plaintext []byte
	valid     [][]byte
}

func FuzzOpen(f *testing.F) {
	var ciphers []fuzzCipher
	for _, v := range loadVectors(f) {
		c, err := NewCipher(mustHex(f, v.DEK), v.Version, Scope{v.Tenant, v.Table, v.Column})
		if err != nil {
			f.Fatal(err)
		}
		ciphers = append(ciphers, fuzzCipher{c, mustHex(f, v.Plaintext), [][]byte{mustHex(f, v.GCM.Value), mustHex(f, v.SIV.Value)}})
	}
	seeds := 0
	for i, fc := range ciphers {
		for _, v := range fc.valid {
			f.Add(uint8(i), v)
			// A wrong cipher for a good value.
			f.Add(uint8(i+1), v)
			seeds++
		}
		for _, v := range edgeValues {
			f.Add(uint8(i), v)
		}
	}
	if seeds == 0 {
		f.Fatal("no seed values from testdata/vectors.json")
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		fc := ciphers[int(which)%len(ciphers)]
		got, err := fc.c.Open(nil, b)
		if err != nil {
			if err != ErrAuth || got != nil {
				t.Fatalf("Open(%x) = %x, %v, want nil, ErrAuth", b, got, err)
			}
			return
		}
		// Nothing but a value sealed under this cipher may open.
		for _, v := range fc.valid {
			if bytes.Equal(v, b) {
				if !bytes.Equal(got, fc.plaintext) {
					t.Fatalf("Open(%x) = %x, want %x", b, got, fc.plaintext)
				}
				return
			}
		}
		t.Fatalf("Open accepted a value that was never sealed: %x -> %x", b, got)
	})
}

func FuzzRoundTrip(f *testing.F) {
	seeds := 0
	for _, v := range loadVectors(f) {
		f.Add(mustHex(f, v.Plaintext), v.Tenant, v.Table, v.Column, v.Version, uint8(16))
		seeds++
	}
	if seeds == 0 {
		f.Fatal("no seed values from testdata/vectors.json")
	}
	f.Add([]byte(nil), "", "", "", uint32(0), uint8(0))
	f.Add([]byte{0xC0}, "\xff", "\x00", "\xc0", uint32(1<<32-1), uint8(255))
	f.Fuzz(func(t *testing.T, pt []byte, tenant, table, column string, version uint32, bidxLen uint8) {
		if version == 0 {
			version = 1
		}
		dek := patterned(DEKSize, byte(len(pt)))
		s := Scope{tenant, table, column}
		c, err := NewCipher(dek, version, s)
		if err != nil {
			t.Fatalf("NewCipher: %v", err)
		}
		for _, tc := range []struct {
			alg  Algorithm
			seal func([]byte, []byte) ([]byte, error)
		}{{AESGCM, c.Seal}, {AESSIV, c.SealDeterministic}} {
			v, err := tc.seal(nil, pt)
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			if len(v) != len(pt)+Overhead(tc.alg, version) {
				t.Fatalf("%v value is %d bytes for %d of plaintext, want overhead %d", tc.alg, len(v), len(pt), Overhead(tc.alg, version))
			}
			p, err := Parse(v)
			if err != nil || p.Algorithm != tc.alg || p.KeyVersion != version {
				t.Fatalf("Parse(sealed) = %v v%d, %v, want %v v%d", p.Algorithm, p.KeyVersion, err, tc.alg, version)
			}
			got, err := c.Open(nil, v)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open(%v seal(%x)) = %x, %v", tc.alg, pt, got, err)
			}
			a := Armor(nil, v)
			back, err := Dearmor(a)
			if err != nil || !bytes.Equal(back, v) {
				t.Fatalf("Dearmor(Armor(v)) = %x, %v, want %x", back, err, v)
			}
			// The same value in a neighbouring scope does not open.
			other, err := NewCipher(dek, version, Scope{tenant + "x", table, column})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Open(nil, v); err != ErrAuth {
				t.Fatalf("Open under another tenant err = %v, want ErrAuth", err)
			}
		}
		if n := int(bidxLen); n >= MinBlindIndexLen && n <= MaxBlindIndexLen {
			if got, want := mustIndex(t, c, nil, pt, n), specBlindIndex(dek, table, column, pt, n); !bytes.Equal(got, want) {
				t.Fatalf("BlindIndex = %x, spec %x", got, want)
			}
		}
	})
}
