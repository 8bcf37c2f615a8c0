package gormplugin

import (
	"slices"
	"testing"
)

func idents(sql string) []string {
	var out []string
	toks, _ := sqlTokens(sql)
	for _, t := range toks {
		if t.kind == tokIdent {
			out = append(out, t.text)
		}
	}
	return out
}

func TestSQLTokensIdentifiers(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want []string
	}{
		{"email = ?", []string{"email"}},
		{`"patients"."email" = ?`, []string{"patients", "email"}},
		{"`patients`.`email`=?", []string{"patients", "email"}},
		{"patients.email IN ?", []string{"patients", "email", "IN"}},
		{"name = 'email'", []string{"name"}},
		{"x = 'it''s email' AND y = ?", []string{"x", "AND", "y"}},
		{"a = @email", []string{"a"}},
		{"ssn<>? and 1=1", []string{"ssn", "and"}},
		{`"we""ird" = 1`, []string{`we"ird`}},
		{"lower(émail) = ?", []string{"lower", "émail"}},
	} {
		if got := idents(c.sql); !slices.Equal(got, c.want) {
			t.Errorf("idents(%q) = %q, want %q", c.sql, got, c.want)
		}
		if _, clean := sqlTokens(c.sql); !clean {
			t.Errorf("sqlTokens(%q) is not clean, want clean", c.sql)
		}
	}
}

// TestSQLTokensUnclean: text that some database reads otherwise is
// flagged, so that the check falls back to every word of the text.
func TestSQLTokensUnclean(t *testing.T) {
	for _, sql := range []string{
		`x = 'it\'s' OR email = ?`, // MySQL: the literal ends after s'
		`x = "a\" OR email = ?`,
		"x = 1 -- it's\nOR email = ?",
		"x = 1 /* it's */ OR email = ?",
		"x = 1 # it's\nOR email = ?",
		"'unterminated email",
		`"unterminated email`,
		"[email] = ?",                             // SQLite: a name; Postgres: a subscript
		"ARRAY[ email ] = ARRAY[ ? ]",             // Postgres: an array of the column
		"x = $q$'$q$ OR email = ? OR x = $q$'$q$", // Postgres: email between two dollar-quoted strings
		"x = $$ ' $$ OR email = ? OR x = ' '",     // the same, tagless
		"x = 1 OR email = $1",                     // a parameter in Postgres and SQLite
	} {
		if _, clean := sqlTokens(sql); clean {
			t.Errorf("sqlTokens(%q) is clean, want unclean", sql)
		}
		if !slices.Contains(bareWords(sql), "email") {
			t.Errorf("bareWords(%q) = %q, want email among them", sql, bareWords(sql))
		}
	}
}

// TestSQLTokensUnicodeNames: a Postgres Unicode-escaped name is unclean
// and its token holds the name it decodes to, so that the check sees it.
func TestSQLTokensUnicodeNames(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want string
	}{
		{`U&"\0065mail" = ?`, "email"},
		{`u&"\+000065mail" = ?`, "email"},
		{`U&"!0065mail" UESCAPE '!' = ?`, "email"},
		{`U&"e\\mail" = ?`, `e\mail`},
		{`"patients".U&"\0073sn" IN ?`, "ssn"},
	} {
		if _, clean := sqlTokens(c.sql); clean {
			t.Errorf("sqlTokens(%q) is clean, want unclean", c.sql)
		}
		if got := idents(c.sql); !slices.Contains(got, c.want) {
			t.Errorf("idents(%q) = %q, want %q among them", c.sql, got, c.want)
		}
	}
	// Not adjacent: U & "x" is a bitwise AND in MySQL, and no escape.
	if _, clean := sqlTokens(`U & "email" = ?`); !clean {
		t.Errorf("U & \"email\" is unclean, want clean")
	}
}

func TestSQLTokensParams(t *testing.T) {
	toks, _ := sqlTokens("a = ? AND b IN ? AND c = '?'")
	var params []int
	for _, tk := range toks {
		if tk.kind == tokParam {
			params = append(params, tk.param)
		}
	}
	if !slices.Equal(params, []int{0, 1}) {
		t.Fatalf("params = %v, want [0 1] (a ? in a literal is no placeholder)", params)
	}
}

// FuzzSQLTokens: any text tokenizes without panicking, placeholders are
// numbered in order, and no identifier is empty unless quoted.
func FuzzSQLTokens(f *testing.F) {
	for _, s := range []string{"email = ?", `"a"."b" = 'c'`, "`x`=[y]", "'", `"`, "@", "a = ? OR b = ?", "é'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		next := 0
		toks, _ := sqlTokens(sql)
		for _, tk := range toks {
			if tk.kind == tokParam {
				if tk.param != next {
					t.Fatalf("sqlTokens(%q): placeholder %d numbered %d", sql, next, tk.param)
				}
				next++
			}
		}
		_ = columnName(sql)
	})
}
