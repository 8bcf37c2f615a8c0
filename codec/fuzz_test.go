package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Every fuzz target seeds from testdata/vectors.json plus hand-picked edge
// cases, and fails at setup if the vector seeds come out empty: a seed
// corpus that silently matches nothing makes a fuzz test that tests
// nothing. Run one with, for example:
//
//	go test -run='^$' -fuzz=FuzzParse -fuzztime=20s ./codec/
//
// Crashers land in testdata/fuzz/<FuzzName>/ and stay there as regression
// seeds that plain `go test` runs.

// vectorValues returns every binary and armored value in the vectors
// (internal/cipher's tests check them against the spec and the code).
func vectorValues(f *testing.F) (values, armored [][]byte) {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		f.Fatal(err)
	}
	type sealed struct{ Value, Armored string }
	var file struct {
		Vectors []struct{ GCM, SIV sealed }
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		f.Fatal(err)
	}
	for _, v := range file.Vectors {
		for _, s := range []sealed{v.GCM, v.SIV} {
			b, err := hex.DecodeString(s.Value)
			if err != nil {
				f.Fatal(err)
			}
			values = append(values, b)
			armored = append(armored, []byte(s.Armored))
		}
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
		if !bytes.Equal(v.Header, binary.AppendUvarint([]byte{Magic, byte(v.Algorithm)}, uint64(v.KeyVersion))) {
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
