package gormplugin

import (
	"slices"
	"strings"
	"testing"
)

// leafTexts returns the text of each operand condLeaves finds, a "NOT "
// before the negated ones.
func leafTexts(sql string) ([]string, bool) {
	toks, _ := sqlTokens(sql)
	leaves, ok := condLeaves(toks)
	var out []string
	for _, l := range leaves {
		s := sql[toks[l.from].pos:toks[l.to-1].end]
		if l.negated {
			s = "NOT " + s
		}
		out = append(out, s)
	}
	return out, ok
}

func TestCondLeaves(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want []string // nil: not read with certainty
	}{
		{"email = ?", []string{"email = ?"}},
		{"a = ? AND (b = ? OR NOT c IN ?)", []string{"a = ?", "b = ?", "NOT c IN ?"}},
		{"NOT (a = ? or b = ?) and c is not null", []string{"NOT a = ?", "NOT b = ?", "c is not null"}},
		{"((email = ?))", []string{"email = ?"}},
		{"f(a AND b) = ? OR x IN (SELECT y FROM z WHERE p OR q)", []string{"f(a AND b) = ?", "x IN (SELECT y FROM z WHERE p OR q)"}},
		{`"and" = ? AND "or" = ?`, []string{`"and" = ?`, `"or" = ?`}},
		{"x || email = ?", []string{"x || email = ?"}},
		{"id BETWEEN ? AND ?", nil},
		{"id BETWEEN ? AND email = ?", nil},
		{"CASE WHEN a AND b THEN 1 END = ?", nil},
		{"(email, ssn) = (?, ?)", nil},
		{"(email) = ?", nil},
		{"a = ? AND", nil},
		{"AND a = ?", nil},
		{"", nil},
		{"(a = ?", nil},
		{"a = ?)", nil},
		{"NOT", nil},
		{strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100), nil},
	} {
		got, ok := leafTexts(c.sql)
		if (c.want == nil) != !ok || (ok && !slices.Equal(got, c.want)) {
			t.Errorf("condLeaves(%q) = %q, %t; want %q", c.sql, got, ok, c.want)
		}
	}
}

// FuzzCondLeaves: any text is split without panicking, into operands that
// are non-empty, in order and apart.
func FuzzCondLeaves(f *testing.F) {
	for _, s := range []string{"email = ?", "a = ? AND (b = ? OR NOT c IN ?)", "((x))", "(a, b) = (?, ?)", "NOT NOT a", "a OR", ")("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		toks, _ := sqlTokens(sql)
		leaves, ok := condLeaves(toks)
		if !ok {
			return
		}
		prev := 0
		for _, l := range leaves {
			if l.from < prev || l.to <= l.from || l.to > len(toks) {
				t.Fatalf("condLeaves(%q): operand [%d, %d) after %d of %d tokens", sql, l.from, l.to, prev, len(toks))
			}
			prev = l.to
		}
	})
}
