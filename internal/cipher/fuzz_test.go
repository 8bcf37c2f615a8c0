package cipher

import (
	"bytes"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

// Every fuzz target seeds from codec/testdata/vectors.json plus hand-picked
// edge cases, and fails at setup if the vector seeds come out empty: a seed
// corpus that silently matches nothing makes a fuzz test that tests
// nothing. Run one with, for example:
//
//	go test -run='^$' -fuzz=FuzzOpen -fuzztime=20s ./internal/cipher/
//
// Crashers land in testdata/fuzz/<FuzzName>/ and stay there as regression
// seeds that plain `go test` runs.

// value builds test input: header bytes then n filler bytes.
func value(n int, header ...byte) []byte {
	return append(bytes.Clone(header), make([]byte, n)...)
}

// edgeValues are hand-picked inputs around the parser's boundaries.
var edgeValues = [][]byte{
	nil, {}, {codec.Magic}, {codec.Magic, 1}, {codec.Magic, 2}, {codec.Magic, 1, 1}, {codec.Magic, 2, 1},
	{codec.Magic, 1, 0}, {codec.Magic, 3, 1}, {codec.Magic, 0, 1}, {0xC1, 1, 1},
	{codec.Magic, 1, 0x80}, {codec.Magic, 1, 0x81, 0x00}, {codec.Magic, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	{codec.Magic, 1, 0xff, 0xff, 0xff, 0xff, 0x10},
	{codec.Magic, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	value(27, codec.Magic, 1, 1), value(28, codec.Magic, 1, 1), value(15, codec.Magic, 2, 1), value(16, codec.Magic, 2, 1),
	value(28, codec.Magic, 1, 0x80, 0x01), []byte("$cc1$"), []byte("plain text"),
}

// fuzzCipher is one vector's cipher and what opens under it with Open:
// the unbound values of every vector with the same data key, scope and
// version (two vectors may share them), each with its plaintext. A bound
// vector's own values are not among them: they open only with their row.
type fuzzCipher struct {
	c     *Cipher
	valid map[string][]byte // value → plaintext
	own   [][]byte          // the vector's own values, as seeds
}

func FuzzOpen(f *testing.F) {
	vectors := loadVectors(f)
	key := func(v vector) string {
		return string(AppendCanonical(nil, v.DEK, v.Tenant, v.Table, v.Column, decimal(v.Version)))
	}
	var ciphers []fuzzCipher
	for _, v := range vectors {
		c, err := NewCipher(mustHex(f, v.DEK), v.Version, codec.Scope{Tenant: v.Tenant, Table: v.Table, Column: v.Column})
		if err != nil {
			f.Fatal(err)
		}
		fc := fuzzCipher{c: c, valid: map[string][]byte{}, own: [][]byte{mustHex(f, v.GCM.Value), mustHex(f, v.SIV.Value)}}
		for _, w := range vectors {
			if w.Row == nil && key(w) == key(v) {
				fc.valid[string(mustHex(f, w.GCM.Value))] = mustHex(f, w.Plaintext)
				fc.valid[string(mustHex(f, w.SIV.Value))] = mustHex(f, w.Plaintext)
			}
		}
		ciphers = append(ciphers, fc)
	}
	seeds := 0
	for i, fc := range ciphers {
		for _, v := range fc.own {
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
		f.Fatal("no seed values from codec/testdata/vectors.json")
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		fc := ciphers[int(which)%len(ciphers)]
		got, err := fc.c.Open(nil, b)
		if err != nil {
			if err != codec.ErrAuth || got != nil {
				t.Fatalf("Open(%x) = %x, %v, want nil, codec.ErrAuth", b, got, err)
			}
			return
		}
		// Nothing but a value sealed under this cipher's key, scope and
		// version, unbound, may open.
		want, ok := fc.valid[string(b)]
		if !ok {
			t.Fatalf("Open accepted a value that was never sealed: %x -> %x", b, got)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Open(%x) = %x, want %x", b, got, want)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	seeds := 0
	for _, v := range loadVectors(f) {
		f.Add(mustHex(f, v.Plaintext), v.Tenant, v.Table, v.Column, v.Version, uint8(16))
		seeds++
	}
	if seeds == 0 {
		f.Fatal("no seed values from codec/testdata/vectors.json")
	}
	f.Add([]byte(nil), "", "", "", uint32(0), uint8(0))
	f.Add([]byte{0xC0}, "\xff", "\x00", "\xc0", uint32(1<<32-1), uint8(255))
	f.Fuzz(func(t *testing.T, pt []byte, tenant, table, column string, version uint32, bidxLen uint8) {
		if version == 0 {
			version = 1
		}
		dek := patterned(DEKSize, byte(len(pt)))
		s := codec.Scope{Tenant: tenant, Table: table, Column: column}
		c, err := NewCipher(dek, version, s)
		if err != nil {
			t.Fatalf("NewCipher: %v", err)
		}
		for _, tc := range []struct {
			alg  codec.Algorithm
			seal func([]byte, []byte) ([]byte, error)
		}{{codec.AESGCM, c.Seal}, {codec.AESSIV, c.SealDeterministic}} {
			v, err := tc.seal(nil, pt)
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			if len(v) != len(pt)+codec.Overhead(tc.alg, version) {
				t.Fatalf("%v value is %d bytes for %d of plaintext, want overhead %d", tc.alg, len(v), len(pt), codec.Overhead(tc.alg, version))
			}
			p, err := codec.Parse(v)
			if err != nil || p.Algorithm != tc.alg || p.KeyVersion != version {
				t.Fatalf("codec.Parse(sealed) = %v v%d, %v, want %v v%d", p.Algorithm, p.KeyVersion, err, tc.alg, version)
			}
			got, err := c.Open(nil, v)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open(%v seal(%x)) = %x, %v", tc.alg, pt, got, err)
			}
			a := codec.Armor(nil, v)
			back, err := codec.Dearmor(a)
			if err != nil || !bytes.Equal(back, v) {
				t.Fatalf("codec.Dearmor(codec.Armor(v)) = %x, %v, want %x", back, err, v)
			}
			// The same value in a neighbouring scope does not open.
			other, err := NewCipher(dek, version, codec.Scope{Tenant: tenant + "x", Table: table, Column: column})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Open(nil, v); err != codec.ErrAuth {
				t.Fatalf("Open under another tenant err = %v, want codec.ErrAuth", err)
			}
		}
		if n := int(bidxLen); n >= MinBlindIndexLen && n <= MaxBlindIndexLen {
			if got, want := mustIndex(t, c, nil, pt, n), specBlindIndex(dek, table, column, pt, n); !bytes.Equal(got, want) {
				t.Fatalf("BlindIndex = %x, spec %x", got, want)
			}
		}
	})
}
