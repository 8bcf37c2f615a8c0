package cipher

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

func TestAppendCanonical(t *testing.T) {
	for _, tc := range []struct {
		s    codec.Scope
		want string
	}{
		{codec.Scope{}, "000000"},
		{codec.Scope{Tenant: "a", Table: "b", Column: "c"}, "016101620163"},
		{codec.Scope{Tenant: "acme", Table: "patients", Column: "email"}, "0461636d65" + "0870617469656e7473" + "05656d61696c"},
		{codec.Scope{Tenant: "é", Table: "", Column: ""}, "02c3a90000"},
		{codec.Scope{Tenant: strings.Repeat("x", 127), Table: "", Column: ""}, "7f" + strings.Repeat("78", 127) + "0000"},
		{codec.Scope{Tenant: strings.Repeat("x", 128), Table: "", Column: ""}, "8001" + strings.Repeat("78", 128) + "0000"},
		{codec.Scope{Tenant: strings.Repeat("x", 300), Table: "", Column: ""}, "ac02" + strings.Repeat("78", 300) + "0000"},
	} {
		if got := hex.EncodeToString(appendScope(nil, tc.s)); got != tc.want {
			t.Errorf("appendScope(nil, %+.20v) = %.60s, want %.60s", tc.s, got, tc.want)
		}
		if got, want := appendScope([]byte{9}, tc.s), append([]byte{9}, appendScope(nil, tc.s)...); !bytes.Equal(got, want) {
			t.Errorf("appendScope does not append: %x, want %x", got, want)
		}
		if got, want := AppendCanonical(nil, tc.s.Tenant, tc.s.Table, tc.s.Column), appendScope(nil, tc.s); !bytes.Equal(got, want) {
			t.Errorf("AppendCanonical(parts) = %x, want appendScope%x", got, want)
		}
	}
	// Injective where separators would not be.
	seen := map[string]codec.Scope{}
	for _, p := range [][3]string{
		{"ab", "c", ""}, {"a", "bc", ""}, {"a", "b", "c"}, {"", "abc", ""}, {"abc", "", ""},
		{"", "", "abc"}, {"a\x01b", "", ""}, {"a", "\x01b", ""}, {"\x00", "", ""}, {"", "\x00", ""},
	} {
		s := codec.Scope{Tenant: p[0], Table: p[1], Column: p[2]}
		k := string(appendScope(nil, s))
		if prev, dup := seen[k]; dup {
			t.Errorf("%+v and %+v have the same canonical encoding %x", prev, s, k)
		}
		seen[k] = s
	}
	if got := AppendCanonical(nil); len(got) != 0 {
		t.Errorf("AppendCanonical(nil) = %x, want empty", got)
	}
}

// TestCipherScopeFromAAD: a Cipher keeps its scope only in its associated
// data; Scope reads it back, and IsColumn matches exactly its table and
// column and no other, for names of one-byte and longer length prefixes
// alike.
func TestCipherScopeFromAAD(t *testing.T) {
	long := strings.Repeat("t", 200) // a two-byte length prefix
	scopes := []codec.Scope{
		{Tenant: "acme", Table: "patients", Column: "email"},
		{Tenant: long, Table: "patients", Column: "email"},
		{Tenant: "acme", Table: long, Column: long + "c"},
		{Tenant: "a", Table: "b", Column: "c"},
	}
	for _, sc := range scopes {
		for _, version := range []uint32{1, 300, 1<<32 - 1} {
			c, err := NewCipher(patterned(DEKSize, 7), version, sc)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Scope(); got != sc {
				t.Errorf("Scope() = %+v, want %+v", got, sc)
			}
			if !c.IsColumn(sc.Table, sc.Column) {
				t.Errorf("IsColumn(%+v) = false on its own scope", sc)
			}
			others := []codec.Scope{
				{Tenant: sc.Tenant + "x", Table: sc.Table, Column: sc.Column},
				{Tenant: sc.Tenant, Table: sc.Table + "x", Column: sc.Column},
				{Tenant: sc.Tenant, Table: sc.Table, Column: sc.Column + "x"},
				{Tenant: sc.Tenant, Table: sc.Table, Column: sc.Column[:len(sc.Column)-1]},
				{Tenant: sc.Tenant, Table: sc.Table + sc.Column, Column: ""},
				{Tenant: sc.Tenant, Table: "", Column: sc.Table + sc.Column},
				{Tenant: "", Table: sc.Tenant, Column: sc.Table},
			}
			for _, o := range others {
				if (o.Table != sc.Table || o.Column != sc.Column) && c.IsColumn(o.Table, o.Column) {
					t.Errorf("Cipher of %+v: IsColumn(%q, %q) = true", sc, o.Table, o.Column)
				}
			}
		}
	}
}

// TestCipherIsAllocatesNothing: the key store compares ciphers on its hot
// path with IsColumn, which must not allocate.
func TestCipherIsAllocatesNothing(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 7), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	s := tamperScope
	if n := testing.AllocsPerRun(100, func() {
		if !c.IsColumn(s.Table, s.Column) || c.IsColumn(s.Table, "x") {
			t.Fatal("wrong match")
		}
	}); n != 0 {
		t.Errorf("IsColumn allocates %v times, want 0", n)
	}
}

// TestCipherTag: a Cipher's Tag is ColumnTag of its own table and column,
// whatever its tenant and version, and the tag tells apart the columns
// of a typical schema (a filter, so collisions are allowed, but not for
// these).
func TestCipherTag(t *testing.T) {
	seen := map[uint16]string{}
	for _, col := range []string{"name", "email", "phone", "col_0", "col_1", "col_10", "ssn", strings.Repeat("x", 200)} {
		want := ColumnTag("patients", col)
		for _, tenant := range []string{"acme", "globex"} {
			c, err := NewCipher(patterned(DEKSize, 3), 7, codec.Scope{Tenant: tenant, Table: "patients", Column: col})
			if err != nil {
				t.Fatal(err)
			}
			if c.Tag() != want {
				t.Errorf("Tag() of %s.%s = %#x, want ColumnTag's %#x", tenant, col, c.Tag(), want)
			}
		}
		if other, ok := seen[want]; ok {
			t.Errorf("ColumnTag(patients, %s) = ColumnTag(patients, %s)", col, other)
		}
		seen[want] = col
	}
	if ColumnTag("ab", "c") == ColumnTag("a", "bc") {
		t.Errorf("ColumnTag does not tell the table from the column")
	}
}
