package codec

import (
	"bytes"
	"testing"
)

// value builds test input: header bytes then n filler bytes.
func value(n int, header ...byte) []byte {
	return append(bytes.Clone(header), make([]byte, n)...)
}

func TestParseMalformed(t *testing.T) {
	gcmMin, sivMin := nonceSize+tagSize, sivSize
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrMalformed},
		{"empty", []byte{}, ErrMalformed},
		{"1 byte", []byte{Magic}, ErrMalformed},
		{"2 bytes", []byte{Magic, 1}, ErrMalformed},
		{"bad magic 0x00", value(gcmMin, 0x00, 1, 1), ErrMalformed},
		{"bad magic 0xC1", value(gcmMin, 0xC1, 1, 1), ErrMalformed},
		{"bad magic 0xFF", value(gcmMin, 0xFF, 1, 1), ErrMalformed},
		{"ASCII text", []byte("hello, world, this is plaintext!"), ErrMalformed},
		{"armored text", []byte(ArmorPrefix + "wAEBAAAA"), ErrMalformed},
		{"algorithm 0", value(gcmMin, Magic, 0, 1), ErrUnsupported},
		{"algorithm 3", value(gcmMin, Magic, 3, 1), ErrUnsupported},
		{"algorithm 255", value(gcmMin, Magic, 255, 1), ErrUnsupported},
		{"version 0", value(gcmMin, Magic, 1, 0), ErrMalformed},
		{"version 0 SIV", value(sivMin, Magic, 2, 0), ErrMalformed},
		{"version 0 non-minimal", value(gcmMin, Magic, 1, 0x80, 0x00), ErrMalformed},
		{"version 1 non-minimal", value(gcmMin, Magic, 1, 0x81, 0x00), ErrMalformed},
		{"version 1 in 3 bytes", value(gcmMin, Magic, 1, 0x81, 0x80, 0x00), ErrMalformed},
		{"version 128 non-minimal", value(gcmMin, Magic, 1, 0x80, 0x81, 0x00), ErrMalformed},
		{"version 2^32 (too big)", value(gcmMin, Magic, 1, 0x80, 0x80, 0x80, 0x80, 0x10), ErrMalformed},
		{"version 2^35-1 (too big)", value(gcmMin, Magic, 1, 0xff, 0xff, 0xff, 0xff, 0x7f), ErrMalformed},
		{"version 2^64-1 (too big)", value(gcmMin, Magic, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), ErrMalformed},
		{"uvarint overflows 64 bits", value(gcmMin, Magic, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), ErrMalformed},
		{"uvarint of 11 bytes", value(gcmMin, Magic, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), ErrMalformed},
		{"uvarint unterminated", []byte{Magic, 1, 0x80}, ErrMalformed},
		{"uvarint unterminated long", []byte{Magic, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, ErrMalformed},
		{"uvarint continues into end", append([]byte{Magic, 1}, bytes.Repeat([]byte{0xff}, 40)...), ErrMalformed},
		{"GCM header only", []byte{Magic, 1, 1}, ErrMalformed},
		{"GCM nonce only", value(nonceSize, Magic, 1, 1), ErrMalformed},
		{"GCM short tag", value(gcmMin-1, Magic, 1, 1), ErrMalformed},
		{"GCM short tag, version 300", value(gcmMin-1, Magic, 1, 0xac, 0x02), ErrMalformed},
		{"SIV header only", []byte{Magic, 2, 1}, ErrMalformed},
		{"SIV short IV", value(sivMin-1, Magic, 2, 1), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Parse(tc.in)
			if err != tc.want {
				t.Fatalf("Parse(%.40x) = %+v, %v, want %v", tc.in, v, err, tc.want)
			}
			if v.Header != nil || v.Nonce != nil || v.Ciphertext != nil || v.KeyVersion != 0 || v.Algorithm != 0 {
				t.Errorf("Parse(%.40x) returned %+v with an error, want a zero Value", tc.in, v)
			}
		})
	}

	// One byte over MaxValueSize. The size bound comes first: an unknown
	// algorithm that is also too big is malformed, not unsupported.
	huge := make([]byte, MaxValueSize+1)
	for _, alg := range []byte{1, 2, 9} {
		copy(huge, []byte{Magic, alg, 1})
		if _, err := Parse(huge); err != ErrMalformed {
			t.Errorf("Parse(MaxValueSize+1 bytes, algorithm %d) err = %v, want ErrMalformed", alg, err)
		}
		if _, err := Parse(huge[:MaxValueSize]); alg != 9 && err != nil {
			t.Errorf("Parse(MaxValueSize bytes, algorithm %d) err = %v, want nil", alg, err)
		}
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		alg     Algorithm
		version uint32
		header  int
		nonce   int
		ct      int
	}{
		{"GCM minimum", value(28, Magic, 1, 1), AESGCM, 1, 3, 12, 16},
		{"GCM v127", value(40, Magic, 1, 0x7f), AESGCM, 127, 3, 12, 28},
		{"GCM v128", value(28, Magic, 1, 0x80, 0x01), AESGCM, 128, 4, 12, 16},
		{"GCM v300", value(28, Magic, 1, 0xac, 0x02), AESGCM, 300, 4, 12, 16},
		{"GCM v16384", value(28, Magic, 1, 0x80, 0x80, 0x01), AESGCM, 16384, 5, 12, 16},
		{"GCM v2^32-1", value(28, Magic, 1, 0xff, 0xff, 0xff, 0xff, 0x0f), AESGCM, 1<<32 - 1, 7, 12, 16},
		{"SIV minimum", value(16, Magic, 2, 1), AESSIV, 1, 3, 0, 16},
		{"SIV v2^32-1", value(20, Magic, 2, 0xff, 0xff, 0xff, 0xff, 0x0f), AESSIV, 1<<32 - 1, 7, 0, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%.40x) err = %v, want nil", tc.in, err)
			}
			if v.Algorithm != tc.alg || v.KeyVersion != tc.version {
				t.Errorf("Parse = alg %v version %d, want %v %d", v.Algorithm, v.KeyVersion, tc.alg, tc.version)
			}
			if len(v.Header) != tc.header || len(v.Nonce) != tc.nonce || len(v.Ciphertext) != tc.ct {
				t.Errorf("Parse lengths = header %d nonce %d ciphertext %d, want %d %d %d",
					len(v.Header), len(v.Nonce), len(v.Ciphertext), tc.header, tc.nonce, tc.ct)
			}
			if !bytes.Equal(v.Header, tc.in[:tc.header]) {
				t.Errorf("Parse header = %x, want %x", v.Header, tc.in[:tc.header])
			}
		})
	}
}

func TestOverhead(t *testing.T) {
	for _, tc := range []struct {
		alg     Algorithm
		version uint32
		want    int
	}{
		{AESGCM, 1, 31}, {AESGCM, 127, 31}, {AESGCM, 128, 32}, {AESGCM, 16383, 32},
		{AESGCM, 16384, 33}, {AESGCM, 1<<32 - 1, 35},
		{AESSIV, 1, 19}, {AESSIV, 127, 19}, {AESSIV, 128, 20}, {AESSIV, 1<<32 - 1, 23},
		{Algorithm(9), 1, 0},
	} {
		if got := Overhead(tc.alg, tc.version); got != tc.want {
			t.Errorf("Overhead(%v, %d) = %d, want %d", tc.alg, tc.version, got, tc.want)
		}
	}
}

func TestIsValue(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{nil, false}, {[]byte{}, false}, {[]byte{Magic}, true}, {[]byte{0xC1}, false},
		{[]byte("plain text"), false}, {[]byte(ArmorPrefix), false},
	} {
		if got := IsValue(tc.in); got != tc.want {
			t.Errorf("IsValue(%x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestAlgorithmString(t *testing.T) {
	for _, tc := range []struct {
		a    Algorithm
		want string
	}{{AESGCM, "AES-256-GCM"}, {AESSIV, "AES-SIV-CMAC-512"}, {0, "unknown"}, {3, "unknown"}} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("Algorithm(%d).String() = %q, want %q", uint8(tc.a), got, tc.want)
		}
	}
}

// TestDocumentedConstants pins the numbers docs/FORMAT.md states.
func TestDocumentedConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"Magic", int(Magic), 0xC0},
		{"AESGCM", int(AESGCM), 1},
		{"AESSIV", int(AESSIV), 2},
		{"MaxValueSize", MaxValueSize, 67108864},
		{"maxArmoredSize", maxArmoredSize, 89478491},
		{"len(ArmorPrefix)", len(ArmorPrefix), 5},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d (as docs/FORMAT.md says)", tc.name, tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		version uint32
		header  int
	}{{1, 3}, {127, 3}, {128, 4}, {16383, 4}, {16384, 5}, {2097151, 5}, {2097152, 6}, {268435455, 6}, {268435456, 7}, {1<<32 - 1, 7}} {
		if got := headerLen(tc.version); got != tc.header {
			t.Errorf("headerLen(%d) = %d, want %d", tc.version, got, tc.header)
		}
	}
}

// TestParseCapsSlices checks that appending to a parsed Header or Nonce
// (to build an AAD, say) cannot overwrite the value it came from.
func TestParseCapsSlices(t *testing.T) {
	for _, v := range [][]byte{value(nonceSize+tagSize+5, Magic, byte(AESGCM), 1), value(sivSize+5, Magic, byte(AESSIV), 1)} {
		orig := bytes.Clone(v)
		p, err := Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		_ = append(p.Header, "scribble"...)
		_ = append(p.Nonce, "scribble"...)
		if !bytes.Equal(v, orig) {
			t.Fatalf("appending to Parse's Header/Nonce changed the value: %x, was %x", v, orig)
		}
	}
}
