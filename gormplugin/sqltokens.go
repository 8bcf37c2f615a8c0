package gormplugin

import (
	"strconv"
	"strings"
	"unicode"
)

// sqlToken is one token of a condition's SQL text, as far as the plugin
// needs to tell: an identifier (bare or quoted), a string literal, a
// placeholder, or anything else.
type sqlToken struct {
	kind  tokenKind
	text  string // an identifier unquoted, a literal's value, an operator
	param int    // the placeholder's position among the "?" of the text
	pos   int    // the byte offset of the token in the text
	end   int    // the byte offset just past it
	// quoted: an identifier written in quotes, never a keyword.
	quoted bool
}

type tokenKind int

const (
	tokIdent  tokenKind = iota // email, "email", `email`, [email]
	tokString                  // 'text'
	tokParam                   // ?
	tokNamed                   // @name (a named argument, not a column)
	tokOp                      // = <> <=> . ( , and the rest
	tokNumber                  // 42
)

// sqlTokens splits a condition's SQL text into tokens. It is no SQL
// parser: it only has to find the identifiers, and errs towards seeing
// one where there is none. A single-quoted literal ends at the first
// lone quote (two quotes are one quote inside it). A double-quoted name
// is an identifier (in MySQL it may be a string: refusing more).
//
// clean is false when the text can be read in more than one way by the
// databases the plugin supports, so that some reading could hide an
// identifier inside what the tokens call a literal: a backslash inside a
// quoted string (an escape in MySQL, not in Postgres), a comment marker
// outside one (a quote in a comment opens no literal), a literal left
// open, a bracket (a quoted name in SQLite, an array or subscript in
// Postgres: ARRAY[ email ]), a word that starts with $ (a dollar-quoted
// string in Postgres, a parameter in SQLite), or a Postgres Unicode-escaped
// name (U&"\0065mail", whose token holds the decoded name). Callers then
// look at bareWords and at every identifier token instead.
func sqlTokens(sql string) (toks []sqlToken, clean bool) {
	var out []sqlToken
	params := 0
	clean = true
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				if sql[j] == '\\' {
					clean = false
				}
				b.WriteByte(sql[j])
				j++
			}
			if j >= len(sql) {
				clean = false
			}
			out = append(out, sqlToken{kind: tokString, text: b.String(), pos: i, end: min(j+1, len(sql))})
			i = j + 1
		case c == '"' || c == '`' || c == '[':
			if c == '[' {
				clean = false
			}
			end := byte('"')
			switch c {
			case '`':
				end = '`'
			case '[':
				end = ']'
			}
			var b strings.Builder
			j := i + 1
			for j < len(sql) {
				if sql[j] == end {
					if end != ']' && j+1 < len(sql) && sql[j+1] == end {
						b.WriteByte(end)
						j += 2
						continue
					}
					break
				}
				if sql[j] == '\\' && end == '"' {
					clean = false
				}
				b.WriteByte(sql[j])
				j++
			}
			if j >= len(sql) {
				clean = false
			}
			out = append(out, sqlToken{kind: tokIdent, text: b.String(), pos: i, end: min(j+1, len(sql)), quoted: true})
			i = j + 1
		case c == '?':
			out = append(out, sqlToken{kind: tokParam, text: "?", param: params, pos: i, end: i + 1})
			params++
			i++
		case c == '@':
			j := i + 1
			for j < len(sql) && identByte(sql[j]) {
				j++
			}
			out = append(out, sqlToken{kind: tokNamed, text: sql[i:j], pos: i, end: j})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(sql) && identByte(sql[j]) {
				j++
			}
			out = append(out, sqlToken{kind: tokNumber, text: sql[i:j], pos: i, end: j})
			i = j
		case identByte(c):
			if c == '$' {
				clean = false
			}
			j := i + 1
			for j < len(sql) && identByte(sql[j]) {
				j++
			}
			out = append(out, sqlToken{kind: tokIdent, text: sql[i:j], pos: i, end: j})
			i = j
		case c == '<' || c == '>' || c == '=' || c == '!':
			j := i + 1
			for j < len(sql) && strings.IndexByte("<>=!", sql[j]) >= 0 {
				j++
			}
			out = append(out, sqlToken{kind: tokOp, text: sql[i:j], pos: i, end: j})
			i = j
		default:
			if c == '#' || (c == '-' && strings.HasPrefix(sql[i:], "--")) || (c == '/' && strings.HasPrefix(sql[i:], "/*")) {
				clean = false
			}
			out = append(out, sqlToken{kind: tokOp, text: sql[i : i+1], pos: i, end: i + 1})
			i++
		}
	}
	if unicodeNames(sql, out) {
		clean = false
	}
	return out, clean
}

// unicodeNames decodes, in place, the tokens of Postgres Unicode-escaped
// names: U&"d\0061t\+000061" is the name "data", and U&"d!0061ta"
// UESCAPE '!' too. It reports whether there was any. A name that does not
// decode keeps its raw text (Postgres refuses it).
func unicodeNames(sql string, toks []sqlToken) bool {
	found := false
	for i := 2; i < len(toks); i++ {
		t, amp, u := toks[i], toks[i-1], toks[i-2]
		if t.kind != tokIdent || !t.quoted || sql[t.pos] != '"' || !op(amp, "&") || amp.end != t.pos ||
			u.kind != tokIdent || u.quoted || !strings.EqualFold(u.text, "u") || u.end != amp.pos {
			continue
		}
		found = true
		esc := byte('\\')
		if i+2 < len(toks) && keyword(toks[i+1], "uescape") && toks[i+2].kind == tokString && len(toks[i+2].text) == 1 {
			esc = toks[i+2].text[0]
		}
		if name, ok := unescapeUnicode(t.text, esc); ok {
			toks[i].text = name
		}
	}
	return found
}

// unescapeUnicode decodes a Postgres Unicode-escaped name: esc followed
// by four hex digits, esc + followed by six, or esc twice for esc itself.
func unescapeUnicode(s string, esc byte) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != esc {
			b.WriteByte(s[i])
			i++
			continue
		}
		n, j := 4, i+1
		switch {
		case j < len(s) && s[j] == esc:
			b.WriteByte(esc)
			i = j + 1
			continue
		case j < len(s) && s[j] == '+':
			n, j = 6, j+1
		}
		if j+n > len(s) {
			return "", false
		}
		r, err := strconv.ParseUint(s[j:j+n], 16, 32)
		if err != nil || r > unicode.MaxRune {
			return "", false
		}
		b.WriteRune(rune(r))
		i = j + n
	}
	return b.String(), true
}

// bareWords returns every run of identifier bytes in sql, quoted or not,
// inside literals or not: what an unclean text is checked against.
func bareWords(sql string) []string {
	return strings.FieldsFunc(sql, func(r rune) bool {
		return r < 0x80 && !identByte(byte(r))
	})
}

// identByte reports whether c can be part of a bare identifier. Bytes of
// multi-byte UTF-8 characters count, so a non-ASCII name is one token.
func identByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// columnName returns the column a column reference names: the last part
// of a possibly qualified, possibly quoted name ("patients"."email",
// patients.email, `email`).
func columnName(ref string) string {
	toks, _ := sqlTokens(ref)
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == tokIdent {
			return toks[i].text
		}
	}
	return ref
}
