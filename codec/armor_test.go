package codec

import (
	"bytes"
	"strings"
	"testing"
)

func TestArmorRoundTrip(t *testing.T) {
	// Every length mod 3 and every byte value: armor does not care
	// whether the bytes authenticate.
	for n := range 40 {
		v := value(n, Magic, byte(AESGCM), 1)
		for i := range v[3:] {
			v[3+i] = byte(i*37 + n)
		}
		a := Armor(nil, v)
		if !IsArmored(a) || !strings.HasPrefix(string(a), "$cc1$") {
			t.Fatalf("Armor(%x) = %q, want the $cc1$ prefix", v, a)
		}
		if bytes.ContainsAny(a, "=\r\n ") {
			t.Fatalf("Armor(%x) = %q, want no padding or white space", v, a)
		}
		back, err := Dearmor(a)
		if err != nil || !bytes.Equal(back, v) {
			t.Fatalf("Dearmor(%q) = %x, %v, want %x", a, back, err, v)
		}
	}
	// Armor appends.
	if got := Armor([]byte("x:"), []byte{Magic}); string(got) != "x:$cc1$wA" {
		t.Errorf("Armor(\"x:\", c0) = %q, want %q", got, "x:$cc1$wA")
	}
}

func TestDearmorMalformed(t *testing.T) {
	const ok = "$cc1$wAEBkJeepayzusHIz9bdXA6pjK+GvBjsFt2XYtsa6g" // a vector's GCM value
	if _, err := Dearmor([]byte(ok)); err != nil {
		t.Fatalf("Dearmor(%q) err = %v, want nil", ok, err)
	}
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"prefix only", "$cc1$"},
		{"no prefix", "wAEBkJeepayzusHIz9bdXA6pjK+GvBjsFt2XYtsa6g"},
		{"other prefix", "$cc2$wAEBkJeepayzusHIz9bdXA6pjK+GvBjsFt2XYtsa6g"},
		{"upper-case prefix", "$CC1$wAEBkJeepayzusHIz9bdXA6pjK+GvBjsFt2XYtsa6g"},
		{"padding", ok + "=="},
		{"one padding char", ok + "="},
		{"trailing newline", ok + "\n"},
		{"CRLF", ok + "\r\n"},
		{"newline inside", ok[:20] + "\n" + ok[20:]},
		{"CR inside", ok[:20] + "\r" + ok[20:]},
		{"space inside", ok[:20] + " " + ok[20:]},
		{"tab", ok + "\t"},
		{"leading space", " " + ok},
		{"URL alphabet", "$cc1$wAEBkJeepayzusHIz9bdXA6pjK-GvBjsFt2XYtsa6g"},
		{"impossible length", ok + "AAA"},
		{"non-canonical trailing bits", ok[:len(ok)-1] + "h"},
		{"not a value after decoding", "$cc1$AAEB"},
		{"decodes to nothing", "$cc1$"},
		{"invalid character", "$cc1$wAEB*A"},
		{"NUL", "$cc1$wAEB\x00A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Dearmor([]byte(tc.in))
			if err != ErrMalformed || got != nil {
				t.Fatalf("Dearmor(%.60q) = %x, %v, want ErrMalformed", tc.in, got, err)
			}
		})
	}
	// One byte over the bound is rejected before any decoding.
	long := make([]byte, maxArmoredSize+1)
	copy(long, ArmorPrefix)
	if got, err := Dearmor(long); err != ErrMalformed || got != nil {
		t.Fatalf("Dearmor(%d bytes) = %d bytes, %v, want ErrMalformed", len(long), len(got), err)
	}
}

func TestIsArmored(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"", false}, {"$cc1", false}, {"$cc1$", true}, {"$cc1$!!", true}, {"x$cc1$", false}} {
		if got := IsArmored([]byte(tc.in)); got != tc.want {
			t.Errorf("IsArmored(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
