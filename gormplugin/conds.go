package gormplugin

import (
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// matched marks a condition Match built: it compares an encrypted column
// with the stored forms of a value, never with the plaintext, so the
// check below lets it through. tenant is the tenant whose keys gave those
// forms, and whose rows it is limited to ("" for a condition that names
// no value): a statement run again under another tenant (GORM shares
// conditions between the statements of a chain and keeps the conditions
// a scope added) must not find that tenant's rows (rewriter.expr).
type matched struct {
	clause.Expression
	tenant string
}

// whereExprs returns the statement's WHERE conditions.
func whereExprs(stmt *gorm.Statement) []clause.Expression {
	c, ok := stmt.Clauses["WHERE"]
	if !ok {
		return nil
	}
	w, ok := c.Expression.(clause.Where)
	if !ok {
		return nil
	}
	return w.Exprs
}

// walkConds calls f for every condition of exprs, descending into AND,
// OR and NOT (negated says whether a NOT is above it), and stops when f
// returns false. A condition Match built is skipped.
func walkConds(exprs []clause.Expression, negated bool, f func(e clause.Expression, negated bool) bool) bool {
	for _, e := range exprs {
		var ok bool
		switch x := e.(type) {
		case matched:
			ok = true
		case clause.AndConditions:
			ok = walkConds(x.Exprs, negated, f)
		case clause.OrConditions:
			ok = walkConds(x.Exprs, negated, f)
		case clause.NotConditions:
			ok = walkConds(x.Exprs, !negated, f)
		case clause.Where:
			ok = walkConds(x.Exprs, negated, f)
		default:
			ok = f(e, negated)
		}
		if !ok {
			return false
		}
	}
	return true
}

// encryptedRef returns the encrypted field a condition refers to, nil if
// none. Expression types the plugin does not know are let through.
func encryptedRef(m *model, e clause.Expression) *encField {
	switch x := e.(type) {
	case clause.Expr:
		if ef := encryptedIdent(m, x.SQL); ef != nil {
			return ef
		}
		return encryptedVars(m, x.Vars)
	case clause.NamedExpr:
		if ef := encryptedIdent(m, x.SQL); ef != nil {
			return ef
		}
		return encryptedVars(m, x.Vars)
	case clause.Eq:
		if x.Value == nil {
			return nil // IS NULL
		}
		return encryptedColumn(m, x.Column)
	case clause.Neq:
		if x.Value == nil {
			return nil // IS NOT NULL
		}
		return encryptedColumn(m, x.Column)
	case clause.IN:
		return encryptedColumn(m, x.Column)
	case clause.Gt:
		return encryptedColumn(m, x.Column)
	case clause.Gte:
		return encryptedColumn(m, x.Column)
	case clause.Lt:
		return encryptedColumn(m, x.Column)
	case clause.Lte:
		return encryptedColumn(m, x.Column)
	case clause.Like:
		return encryptedColumn(m, x.Column)
	}
	return nil
}

// encryptedVars finds an encrypted column passed as an argument of a
// string condition: Where("? = ?", clause.Column{Name: "email"}, x).
func encryptedVars(m *model, vars []any) *encField {
	for _, v := range vars {
		switch x := v.(type) {
		case clause.Column:
			if ef := encryptedColumn(m, x); ef != nil {
				return ef
			}
		case clause.Expression:
			if ef := encryptedRef(m, x); ef != nil {
				return ef
			}
		}
	}
	return nil
}

func encryptedIdent(m *model, sql string) *encField {
	toks, clean := sqlTokens(sql)
	if !clean {
		// Every word, inside literals or not, and every identifier token,
		// which holds a decoded Unicode-escaped name.
		for _, w := range bareWords(sql) {
			if ef := encryptedByName(m, w); ef != nil {
				return ef
			}
		}
		for _, t := range toks {
			if t.kind == tokIdent {
				if ef := encryptedByName(m, t.text); ef != nil {
					return ef
				}
			}
		}
		return nil
	}
	for i, t := range toks {
		if t.kind != tokIdent || isNullTest(toks[i+1:]) {
			continue
		}
		if ef := encryptedByName(m, t.text); ef != nil {
			return ef
		}
	}
	return nil
}

// isNullTest reports whether the tokens after a column reference are IS
// NULL or IS NOT NULL: a test that sends no value.
func isNullTest(next []sqlToken) bool {
	word := func(i int, w string) bool {
		return i < len(next) && next[i].kind == tokIdent && strings.EqualFold(next[i].text, w)
	}
	return word(0, "is") && (word(1, "null") || (word(1, "not") && word(2, "null")))
}

// encryptedColumn is encryptedRef for the Column of a clause.Eq and the
// like: a clause.Column, or a string (the key of a Where(map...)).
func encryptedColumn(m *model, col any) *encField {
	switch c := col.(type) {
	case clause.Column:
		if c.Raw {
			return encryptedIdent(m, c.Name)
		}
		return encryptedByName(m, c.Name)
	case string:
		return encryptedIdent(m, c)
	}
	return nil
}

// encryptedByName finds an encrypted field by column name, compared
// without regard to case (databases fold unquoted names), or by Go field
// name.
func encryptedByName(m *model, name string) *encField {
	for _, ef := range m.fields {
		if strings.EqualFold(ef.column, name) || ef.f.Name == name {
			return ef
		}
	}
	return nil
}

// isTenantColumn reports whether name names the tenant column of m.
func isTenantColumn(m *model, name string) bool {
	return strings.EqualFold(m.tenant.DBName, name) || m.tenant.Name == name
}

// condTenants calls f with every tenant a WHERE condition of stmt names
// by equality with m's tenant column: tenant_id = ?, tenant_id = 'x',
// tenant_id IN ?, and the clause.Eq/IN of Where(map...) or
// Where(&Model{TenantID: x}). Other forms are left to the tenant
// condition the plugin adds, which they cannot widen. Conditions under a
// NOT are skipped: they exclude a tenant rather than name one.
func condTenants(stmt *gorm.Statement, m *model, f func(tenant string) bool) {
	walkConds(whereExprs(stmt), false, func(e clause.Expression, negated bool) bool {
		if negated {
			return true
		}
		switch x := e.(type) {
		case clause.Eq:
			if columnIsTenant(m, x.Column) {
				return eachString(x.Value, f)
			}
		case clause.IN:
			if columnIsTenant(m, x.Column) {
				return eachString(x.Values, f)
			}
		case clause.Expr:
			return exprTenants(m, x, f)
		}
		return true
	})
}

func columnIsTenant(m *model, col any) bool {
	switch c := col.(type) {
	case clause.Column:
		return !c.Raw && isTenantColumn(m, c.Name)
	case string:
		return isTenantColumn(m, columnName(c))
	}
	return false
}

// exprTenants finds "tenant = ?", "? = tenant", "tenant = 'x'" and
// "tenant IN ?" in a string condition.
func exprTenants(m *model, x clause.Expr, f func(string) bool) bool {
	toks, _ := sqlTokens(x.SQL)
	value := func(t sqlToken) (any, bool) {
		switch t.kind {
		case tokString:
			return t.text, true
		case tokParam:
			if t.param < len(x.Vars) {
				return x.Vars[t.param], true
			}
		}
		return nil, false
	}
	isTenant := func(i int) bool {
		return i >= 0 && i < len(toks) && toks[i].kind == tokIdent && isTenantColumn(m, toks[i].text)
	}
	for i, t := range toks {
		if t.kind != tokOp || (t.text != "=" && t.text != "==") {
			if t.kind == tokIdent && strings.EqualFold(t.text, "in") && isTenant(i-1) && i+1 < len(toks) && toks[i+1].kind == tokParam {
				if v, ok := value(toks[i+1]); ok && !eachString(v, f) {
					return false
				}
			}
			continue
		}
		if isTenant(i-1) && i+1 < len(toks) {
			if v, ok := value(toks[i+1]); ok && !eachString(v, f) {
				return false
			}
		}
		if isTenant(i+1) && i > 0 {
			if v, ok := value(toks[i-1]); ok && !eachString(v, f) {
				return false
			}
		}
	}
	return true
}

// eachString calls f with v if it is a string (or a pointer to one), or
// with each string of a slice v.
func eachString(v any, f func(string) bool) bool {
	switch x := v.(type) {
	case string:
		return f(x)
	case *string:
		if x != nil {
			return f(*x)
		}
		return true
	case []byte:
		return f(string(x))
	case nil:
		return true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		for i := 0; i < rv.Len(); i++ {
			if !eachString(rv.Index(i).Interface(), f) {
				return false
			}
		}
	}
	return true
}
