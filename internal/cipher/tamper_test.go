package cipher

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

// tamperCase is one sealed value and the cipher that opens it.
type tamperCase struct {
	name      string
	c         *Cipher
	dek       []byte
	scope     codec.Scope
	version   uint32
	alg       codec.Algorithm
	value     []byte
	plaintext []byte
}

var tamperScope = codec.Scope{Tenant: "acme", Table: "patients", Column: "email"}

func tamperDEK() []byte { return patterned(DEKSize, 0x33) }

func tamperCases(t *testing.T) []tamperCase {
	t.Helper()
	var out []tamperCase
	for _, version := range []uint32{1, 128, 1<<32 - 1} {
		c, err := NewCipher(tamperDEK(), version, tamperScope)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range [][]byte{nil, []byte("a plaintext of thirty-three bytes")} {
			for _, alg := range []codec.Algorithm{codec.AESGCM, codec.AESSIV} {
				var v []byte
				if alg == codec.AESGCM {
					v, err = c.Seal(nil, pt)
				} else {
					v, err = c.SealDeterministic(nil, pt)
				}
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, tamperCase{
					name: fmt.Sprintf("%v/v%d/%dB", alg, version, len(pt)),
					c:    c, dek: tamperDEK(), scope: tamperScope, version: version,
					alg: alg, value: v, plaintext: pt,
				})
			}
		}
	}
	return out
}

// regionOf names the part of a value byte i falls in.
func regionOf(alg codec.Algorithm, version uint32, n, i int) string {
	h := headerLen(version)
	switch {
	case i == 0:
		return "magic"
	case i == 1:
		return "algorithm"
	case i < h:
		return "version"
	}
	if alg == codec.AESGCM {
		switch {
		case i < h+nonceSize:
			return "nonce"
		case i >= n-tagSize:
			return "tag"
		}
		return "ciphertext"
	}
	if i < h+sivSize {
		return "synthetic IV"
	}
	return "ciphertext"
}

// wantAuth fails unless Open returned exactly ErrAuth and no plaintext.
func wantAuth(t *testing.T, what string, got []byte, err error) {
	t.Helper()
	if err != codec.ErrAuth || !errors.Is(err, codec.ErrAuth) {
		t.Fatalf("%s: Open err = %v, want codec.ErrAuth", what, err)
	}
	if got != nil {
		t.Fatalf("%s: Open returned %x with codec.ErrAuth, want nil", what, got)
	}
}

func TestOpenRejectsEveryBitFlip(t *testing.T) {
	for _, tc := range tamperCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := tc.c.Open(nil, tc.value); err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open(untouched) = %x, %v, want %x", got, err, tc.plaintext)
			}
			regions := map[string]int{}
			for i := range tc.value {
				r := regionOf(tc.alg, tc.version, len(tc.value), i)
				for bit := range 8 {
					v := bytes.Clone(tc.value)
					v[i] ^= 1 << bit
					got, err := tc.c.Open(nil, v)
					wantAuth(t, fmt.Sprintf("bit %d of byte %d (%s)", bit, i, r), got, err)
					regions[r]++
				}
			}
			want := []string{"magic", "algorithm", "version", "ciphertext"}
			if tc.alg == codec.AESGCM {
				want = append(want, "nonce", "tag")
			} else {
				want = append(want, "synthetic IV")
			}
			for _, r := range want {
				if regions[r] == 0 && !(r == "ciphertext" && len(tc.plaintext) == 0) {
					t.Errorf("no bit of region %q was flipped", r)
				}
			}
		})
	}
}

func TestOpenRejectsTruncationAndExtension(t *testing.T) {
	for _, tc := range tamperCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			for n := range len(tc.value) {
				got, err := tc.c.Open(nil, tc.value[:n])
				wantAuth(t, fmt.Sprintf("truncated to %d of %d bytes", n, len(tc.value)), got, err)
				// Dropping bytes from the front is truncation too.
				got, err = tc.c.Open(nil, tc.value[len(tc.value)-n:])
				wantAuth(t, fmt.Sprintf("last %d of %d bytes", n, len(tc.value)), got, err)
			}
			for _, ext := range [][]byte{{0}, {0xff}, make([]byte, 16), tc.value} {
				got, err := tc.c.Open(nil, append(bytes.Clone(tc.value), ext...))
				wantAuth(t, fmt.Sprintf("extended by %d bytes", len(ext)), got, err)
			}
		})
	}
}

// flipBits returns every one-bit change of s.
func flipBits(s string) []string {
	var out []string
	for i := range len(s) {
		for bit := range 8 {
			b := []byte(s)
			b[i] ^= 1 << bit
			out = append(out, string(b))
		}
	}
	return out
}

func TestOpenRejectsWrongContext(t *testing.T) {
	for _, tc := range tamperCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var wrong []struct {
				what    string
				dek     []byte
				version uint32
				scope   codec.Scope
			}
			add := func(what string, dek []byte, version uint32, s codec.Scope) {
				wrong = append(wrong, struct {
					what    string
					dek     []byte
					version uint32
					scope   codec.Scope
				}{what, dek, version, s})
			}
			s := tc.scope
			add("other tenant", tc.dek, tc.version, codec.Scope{Tenant: "acme2", Table: s.Table, Column: s.Column})
			add("empty tenant", tc.dek, tc.version, codec.Scope{Tenant: "", Table: s.Table, Column: s.Column})
			add("other table", tc.dek, tc.version, codec.Scope{Tenant: s.Tenant, Table: "doctors", Column: s.Column})
			add("other column", tc.dek, tc.version, codec.Scope{Tenant: s.Tenant, Table: s.Table, Column: "phone"})
			// Parts shifted across the boundaries: the length prefixes
			// must keep these apart.
			add("tenant/table boundary", tc.dek, tc.version, codec.Scope{Tenant: "acmep", Table: "atients", Column: s.Column})
			add("table/column boundary", tc.dek, tc.version, codec.Scope{Tenant: s.Tenant, Table: "patientse", Column: "mail"})
			add("other version", tc.dek, tc.version%(1<<32-1)+1, s)
			other := bytes.Clone(tc.dek)
			other[0] ^= 1
			add("DEK with one bit flipped", other, tc.version, s)
			add("other DEK", patterned(DEKSize, 0x77), tc.version, s)
			for _, x := range flipBits(s.Tenant) {
				add(fmt.Sprintf("tenant %q", x), tc.dek, tc.version, codec.Scope{Tenant: x, Table: s.Table, Column: s.Column})
			}
			for _, x := range flipBits(s.Table) {
				add(fmt.Sprintf("table %q", x), tc.dek, tc.version, codec.Scope{Tenant: s.Tenant, Table: x, Column: s.Column})
			}
			for _, x := range flipBits(s.Column) {
				add(fmt.Sprintf("column %q", x), tc.dek, tc.version, codec.Scope{Tenant: s.Tenant, Table: s.Table, Column: x})
			}
			for _, w := range wrong {
				c, err := NewCipher(w.dek, w.version, w.scope)
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.Open(nil, tc.value)
				wantAuth(t, w.what, got, err)
			}
		})
	}
}

// TestOpenRejectsVersionRelabel changes a value's key version to another
// valid one and opens it with the cipher of that version under the same
// DEK: the header is in the AAD, so the relabel must not authenticate.
// (In practice each version has its own DEK; the same DEK is the harder
// case.)
func TestOpenRejectsVersionRelabel(t *testing.T) {
	for _, tc := range tamperCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			h := headerLen(tc.version)
			body := tc.value[h:]
			for _, to := range []uint32{1, 2, 127, 128, 300, 1<<32 - 1} {
				if to == tc.version {
					continue
				}
				v := append(appendHeader(nil, tc.alg, to), body...)
				c, err := NewCipher(tc.dek, to, tc.scope)
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.Open(nil, v)
				wantAuth(t, fmt.Sprintf("relabelled v%d to v%d", tc.version, to), got, err)
			}
			// A non-minimal encoding of the same version is malformed.
			nonMinimal := append([]byte{codec.Magic, byte(tc.alg)}, padUvarint(uint64(tc.version))...)
			got, err := tc.c.Open(nil, append(nonMinimal, body...))
			wantAuth(t, "non-minimal version encoding", got, err)
			// So is the same body under the other algorithm.
			otherAlg := codec.AESSIV
			if tc.alg == codec.AESSIV {
				otherAlg = codec.AESGCM
			}
			got, err = tc.c.Open(nil, append(appendHeader(nil, otherAlg, tc.version), body...))
			wantAuth(t, "algorithm relabelled", got, err)
		})
	}
}

// padUvarint encodes x with one more byte than needed.
func padUvarint(x uint64) []byte {
	var out []byte
	for x >= 0x80 {
		out = append(out, byte(x)|0x80)
		x >>= 7
	}
	return append(out, byte(x)|0x80, 0x00)
}

// TestArmoredTamper runs every one-bit change and truncation of an armored
// value through Dearmor and Open: each must fail, Dearmor with
// ErrMalformed or Open with ErrAuth.
func TestArmoredTamper(t *testing.T) {
	for _, tc := range tamperCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			armored := codec.Armor(nil, tc.value)
			open := func(s []byte) ([]byte, error) {
				v, err := codec.Dearmor(s)
				if err != nil {
					if err != codec.ErrMalformed {
						t.Fatalf("codec.Dearmor(%q) err = %v, want codec.ErrMalformed", s, err)
					}
					return nil, err
				}
				return tc.c.Open(nil, v)
			}
			if got, err := open(armored); err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("codec.Dearmor+Open(%q) = %x, %v, want %x", armored, got, err, tc.plaintext)
			}
			check := func(what string, s []byte) {
				t.Helper()
				got, err := open(s)
				if err == nil || got != nil {
					t.Fatalf("%s: codec.Dearmor+Open(%q) = %x, %v, want an error", what, s, got, err)
				}
			}
			for i := range armored {
				for bit := range 8 {
					s := bytes.Clone(armored)
					s[i] ^= 1 << bit
					check(fmt.Sprintf("bit %d of char %d", bit, i), s)
				}
			}
			for n := range len(armored) {
				check(fmt.Sprintf("truncated to %d", n), armored[:n])
			}
			for _, ext := range []string{"A", "=", "==", "\n", " ", "AAAA"} {
				check(fmt.Sprintf("extended by %q", ext), append(bytes.Clone(armored), ext...))
			}
		})
	}
}
