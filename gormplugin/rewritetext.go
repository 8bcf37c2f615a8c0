package gormplugin

import (
	"database/sql"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// String conditions: Where("email = ? AND created_at > ?", x, t), the
// inline conditions of First and Find. The text is split into the
// operands of its AND/OR/NOT (condLeaves); an operand that names an
// encrypted column is rewritten if it is exactly an equality with
// placeholders, and refused otherwise.

// colRef reads a column reference at the start of toks: name, or
// qualifier.name. n is the number of tokens it took, 0 if none.
func colRef(toks []sqlToken) (qual, name string, n int) {
	if len(toks) >= 3 && toks[0].kind == tokIdent && op(toks[1], ".") && toks[2].kind == tokIdent {
		if len(toks) > 3 && op(toks[3], ".") {
			return "", "", 0 // schema.table.column: not followed
		}
		return toks[0].text, toks[2].text, 3
	}
	if len(toks) >= 1 && toks[0].kind == tokIdent {
		return "", toks[0].text, 1
	}
	return "", "", 0
}

// text rewrites a string condition: each operand of its AND/OR that is an
// equality on an encrypted column becomes a placeholder whose argument
// is the rewritten condition; the rest of the text, and the arguments of
// its other placeholders, stay as they were.
func (r *rewriter) text(x clause.Expr, negated bool) (clause.Expression, bool, error) {
	for _, v := range x.Vars {
		if mt, ok := v.(matched); ok {
			if err := r.sameTenant(mt); err != nil {
				return nil, false, err // a condition rewritten before
			}
		}
	}
	if ef := encryptedVars(r.m, x.Vars); ef != nil {
		return nil, false, unsearchable(ef, "an encrypted column passed as an argument compares ciphertext")
	}
	ef := encryptedIdent(r.m, x.SQL)
	if ef == nil {
		if jf := r.joinedIdent(x.SQL); jf != nil {
			return nil, false, refuseJoined(jf)
		}
		return x, false, nil
	}
	toks, clean := sqlTokens(x.SQL)
	if !clean {
		return nil, false, unsearchable(ef, "the condition's text can be read more than one way (a comment, a backslash in a literal, brackets, a word starting with $, a Unicode-escaped name): write it plainly")
	}
	if r.db.Dialector.Name() == "mysql" {
		for _, t := range toks {
			if t.quoted && x.SQL[t.pos] == '"' {
				// A string in MySQL, unless ANSI_QUOTES: not certainly a name.
				return nil, false, unsearchable(ef, "a double-quoted name is a string literal in MySQL: quote names with backticks")
			}
		}
	}
	if negated {
		return nil, false, unsearchable(ef, "a negated condition (NOT) is not rewritten")
	}
	params := 0
	for _, t := range toks {
		if t.kind == tokParam {
			params++
		}
	}
	// GORM binds arguments to every "?" of the text, even one inside a
	// literal or a quoted name: each must be a placeholder token.
	if strings.Count(x.SQL, "?") != params || params != len(x.Vars) {
		return nil, false, unsearchable(ef, "the condition's text does not have one placeholder (?) per argument")
	}
	leaves, ok := condLeaves(toks)
	if !ok {
		return nil, false, unsearchable(ef, "the condition is not a plain AND/OR of comparisons the plugin can read with certainty")
	}
	repl := make(map[int]clause.Expression) // by a leaf's first token
	ends := make(map[int]int)
	for _, l := range leaves {
		lt := toks[l.from:l.to]
		ref := leafRef(r.m, lt)
		if ref == nil {
			continue
		}
		values, rewrite, err := r.leafValues(ref, lt, x.Vars)
		if err != nil {
			return nil, false, err
		}
		if !rewrite {
			continue // IS [NOT] NULL
		}
		if l.negated {
			return nil, false, unsearchable(ref, "a negated equality (NOT) is not rewritten: a blind index would also exclude rows that merely share the index")
		}
		e, err := r.equal(ref, values)
		if err != nil {
			return nil, false, err
		}
		repl[l.from], ends[l.from] = e, l.to
	}
	if len(repl) == 0 {
		return x, false, nil
	}
	var b strings.Builder
	var vars []any
	last := 0
	for i := 0; i < len(toks); {
		if e, ok := repl[i]; ok {
			b.WriteString(x.SQL[last:toks[i].pos])
			b.WriteByte('?')
			vars = append(vars, e)
			last = toks[ends[i]-1].end
			i = ends[i]
			continue
		}
		if toks[i].kind == tokParam {
			vars = append(vars, x.Vars[toks[i].param])
		}
		i++
	}
	b.WriteString(x.SQL[last:])
	return clause.Expr{SQL: b.String(), Vars: vars, WithoutParentheses: x.WithoutParentheses}, true, nil
}

// leafRef returns the encrypted field an operand mentions, nil if none.
func leafRef(m *model, toks []sqlToken) *encField {
	for i, t := range toks {
		if t.kind == tokIdent && !isNullTest(toks[i+1:]) {
			if ef := encryptedByName(m, t.text); ef != nil {
				return ef
			}
		}
	}
	return nil
}

// leafValues reads an operand that mentions ef. It must be one of
//
//	col = ?    ? = col    col IN ?    col IN (?, ...)    col IS [NOT] NULL
//
// with col bare or qualified by the statement's table; rewrite is false
// for IS [NOT] NULL. Anything else is refused.
func (r *rewriter) leafValues(ef *encField, toks []sqlToken, vars []any) (values []any, rewrite bool, err error) {
	refuse := func() ([]any, bool, error) {
		return nil, false, unsearchable(ef, "only col = ?, col IN ?, col IN (?, ...) and IS [NOT] NULL are rewritten; LIKE, <, >, BETWEEN, functions and expressions would compare ciphertext")
	}
	eq := func(t sqlToken) bool { return op(t, "=") || op(t, "==") }
	var rest []sqlToken
	var qual, name string
	if len(toks) >= 3 && toks[0].kind == tokParam && eq(toks[1]) {
		var n int
		qual, name, n = colRef(toks[2:])
		if n == 0 || 2+n != len(toks) {
			return refuse()
		}
		rest = []sqlToken{toks[1], toks[0]}
	} else {
		var n int
		qual, name, n = colRef(toks)
		if n == 0 {
			return refuse()
		}
		rest = toks[n:]
	}
	if encryptedByName(r.m, name) != ef {
		return refuse()
	}
	if qual != "" && !r.ownTable(qual) {
		return nil, false, unsearchable(ef, "a column qualified by another table (%s) may be this encrypted one", qual)
	}
	switch {
	case isNullTest(rest) && (len(rest) == 2 || len(rest) == 3 && keyword(rest[1], "not")):
		return nil, false, nil
	case len(rest) == 2 && eq(rest[0]) && rest[1].kind == tokParam:
		v, err := scalarArg(ef, vars[rest[1].param])
		if err != nil {
			return nil, false, err
		}
		return []any{v}, true, nil
	case len(rest) == 2 && keyword(rest[0], "in") && rest[1].kind == tokParam:
		v := vars[rest[1].param]
		if !isList(v) {
			return nil, false, unsearchable(ef, "IN ? needs a slice of values")
		}
		return r.scalars(ef, listValues(v))
	case len(rest) >= 4 && keyword(rest[0], "in") && op(rest[1], "(") && op(rest[len(rest)-1], ")"):
		inner := rest[2 : len(rest)-1]
		if len(inner) == 1 && inner[0].kind == tokParam && isList(vars[inner[0].param]) {
			return r.scalars(ef, listValues(vars[inner[0].param])) // IN (?) with a slice
		}
		var list []any
		for i, t := range inner {
			if i%2 == 1 {
				if !op(t, ",") {
					return refuse()
				}
				continue
			}
			if t.kind != tokParam {
				return refuse()
			}
			list = append(list, vars[t.param])
		}
		if len(inner)%2 == 0 {
			return refuse() // a trailing comma
		}
		return r.scalars(ef, list)
	}
	return refuse()
}

func (r *rewriter) scalars(ef *encField, list []any) ([]any, bool, error) {
	out := make([]any, 0, len(list))
	for _, v := range list {
		s, err := scalarArg(ef, v)
		if err != nil {
			return nil, false, err
		}
		out = append(out, s)
	}
	return out, true, nil
}

// scalarArg checks that a placeholder's argument is one value (not a
// list GORM would expand, not SQL) and returns it.
func scalarArg(ef *encField, v any) (any, error) {
	switch v.(type) {
	case clause.Expression, clause.Column, clause.Table, *gorm.DB, gorm.Valuer, sql.NamedArg, clause.Interface:
		return nil, unsearchable(ef, "it is compared with SQL, not with a value")
	}
	if isList(v) {
		return nil, unsearchable(ef, "= ? needs one value, not a slice: use IN ?")
	}
	return v, nil
}

// isList reports whether GORM expands v into a list of values: a slice
// or array other than []byte (one value) and other than a driver.Valuer.
func isList(v any) bool {
	if _, ok := v.(interface{ Value() (any, error) }); ok {
		return false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return false
	}
	return rv.Type().Elem().Kind() != reflect.Uint8
}

func listValues(v any) []any {
	rv := reflect.ValueOf(v)
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}
