package codec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestScopeAppendCanonical(t *testing.T) {
	for _, tc := range []struct {
		s    Scope
		want string
	}{
		{Scope{}, "000000"},
		{Scope{"a", "b", "c"}, "016101620163"},
		{Scope{"acme", "patients", "email"}, "0461636d65" + "0870617469656e7473" + "05656d61696c"},
		{Scope{"é", "", ""}, "02c3a90000"},
		{Scope{strings.Repeat("x", 127), "", ""}, "7f" + strings.Repeat("78", 127) + "0000"},
		{Scope{strings.Repeat("x", 128), "", ""}, "8001" + strings.Repeat("78", 128) + "0000"},
		{Scope{strings.Repeat("x", 300), "", ""}, "ac02" + strings.Repeat("78", 300) + "0000"},
	} {
		if got := hex.EncodeToString(tc.s.AppendCanonical(nil)); got != tc.want {
			t.Errorf("%+.20v.AppendCanonical(nil) = %.60s, want %.60s", tc.s, got, tc.want)
		}
		if got, want := tc.s.AppendCanonical([]byte{9}), append([]byte{9}, tc.s.AppendCanonical(nil)...); !bytes.Equal(got, want) {
			t.Errorf("AppendCanonical does not append: %x, want %x", got, want)
		}
		if got, want := AppendCanonical(nil, tc.s.Tenant, tc.s.Table, tc.s.Column), tc.s.AppendCanonical(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendCanonical(parts) = %x, want Scope's %x", got, want)
		}
	}
	// Injective where separators would not be.
	seen := map[string]Scope{}
	for _, s := range []Scope{
		{"ab", "c", ""}, {"a", "bc", ""}, {"a", "b", "c"}, {"", "abc", ""}, {"abc", "", ""},
		{"", "", "abc"}, {"a\x01b", "", ""}, {"a", "\x01b", ""}, {"\x00", "", ""}, {"", "\x00", ""},
	} {
		k := string(s.AppendCanonical(nil))
		if prev, dup := seen[k]; dup {
			t.Errorf("%+v and %+v have the same canonical encoding %x", prev, s, k)
		}
		seen[k] = s
	}
	if got := AppendCanonical(nil); len(got) != 0 {
		t.Errorf("AppendCanonical(nil) = %x, want empty", got)
	}
}
