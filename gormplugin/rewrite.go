package gormplugin

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Query rewriting. The database holds ciphertext, so a condition that
// compares an encrypted column with a plaintext would match nothing and
// send the plaintext to the database and to GORM's log. Before GORM
// builds the SQL of a query, Row/Rows/Scan, update or delete, the plugin
// reads the statement's WHERE conditions:
//
//   - equality on a deterministic or blind-indexed field (email = ?,
//     ? = email, email IN ?, email IN (?, ?), Where(map...),
//     Where(&Model{...})) becomes the condition Match builds for each
//     value: the index (or deterministic) column IN the value's forms
//     under every live key version, limited to the context's tenant; with
//     allowplaintext, OR the column equal to the plaintext, for rows not
//     yet migrated;
//   - IS [NOT] NULL is left as it is: it sends no value;
//   - any other reference to an encrypted column, in WHERE, ORDER BY or
//     GROUP BY, fails with ErrUnsearchable before any SQL is sent. So does
//     every condition the plugin cannot read with certainty.
//
// Conditions are read with sqlTokens and condLeaves: no SQL parser, but
// enough to find the operands of AND, OR and NOT, and to refuse any text
// that databases could read another way.

// rewriter rewrites the conditions of one statement on model m.
type rewriter struct {
	db    *gorm.DB
	m     *model
	write bool // an UPDATE or DELETE
	// check: a first pass that refuses what it must without looking up
	// any key, so a refusal is the same with or without a tenant and
	// comes before any key store or KMS call.
	check bool
	// tenant is the statement's tenant (the context's or the fixed one),
	// "" if it has none.
	tenant string
	// joined are the models of the statement's joins that have encrypted
	// fields (joinedModels).
	joined []*model
}

// rewriteConds rewrites the WHERE of db's statement on m, or fails. The
// rewritten conditions are a new clause: the expressions the caller
// built are not modified, as GORM shares them between the statements of
// a chain, and restoreWhere puts them back after the statement ran.
func (st *stmtState) rewriteConds(db *gorm.DB, m *model, write bool) error {
	if err := checkSubqueries(whereExprs(db.Statement)); err != nil {
		return err
	}
	joined := st.p.joinedModels(db.Statement)
	if len(m.fields) == 0 && len(joined) == 0 {
		return nil
	}
	r := &rewriter{db: db, m: m, write: write, joined: joined}
	if t, err := st.p.enc.ResolveTenant(db.Statement.Context, ""); err == nil {
		r.tenant = t
	}
	stmt := db.Statement
	if err := r.ordering(stmt); err != nil {
		return err
	}
	if err := r.selects(stmt); err != nil {
		return err
	}
	if err := r.joins(stmt); err != nil {
		return err
	}
	c, ok := stmt.Clauses["WHERE"]
	if !ok {
		return nil
	}
	w, ok := c.Expression.(clause.Where)
	if !ok {
		if c.Expression != nil {
			return r.opaque(c.Expression)
		}
		return nil
	}
	r.check = true
	if _, _, err := r.list(w.Exprs, false); err != nil {
		return err
	}
	r.check = false
	exprs, changed, err := r.list(w.Exprs, false)
	if err != nil || !changed {
		return err
	}
	c.Expression = clause.Where{Exprs: exprs}
	stmt.Clauses["WHERE"] = c
	st.where, st.rewritten = w.Exprs, exprs
	return nil
}

// checkSubqueries builds, without running, every subquery a condition
// passes as an argument (Where("id IN (?)", db.Model(&Patient{}).Where(…)))
// and returns the first error. GORM builds a subquery through its query
// callbacks, so the plugin rewrites or refuses its conditions, but then
// drops the subquery's error and writes what SQL there is: a refused
// subquery became "IN ()", which SQLite runs as no rows and the others
// as a syntax error, instead of the refusal.
func checkSubqueries(exprs []clause.Expression) error {
	var err error
	var vars func(vs []any)
	vars = func(vs []any) {
		for _, v := range vs {
			if err != nil {
				return
			}
			switch x := v.(type) {
			case *gorm.DB:
				if x.Statement.SQL.Len() > 0 {
					continue // Raw: GORM binds its text as it is
				}
				tx := x.Session(&gorm.Session{DryRun: true, Logger: logger.Discard, Context: x.Statement.Context})
				if tx = tx.Callback().Query().Execute(tx); tx.Error != nil {
					err = tx.Error
				}
			case clause.Expr:
				vars(x.Vars)
			case clause.NamedExpr:
				vars(x.Vars)
			}
		}
	}
	walkConds(exprs, false, func(e clause.Expression, _ bool) bool {
		switch x := e.(type) {
		case clause.Expr:
			vars(x.Vars)
		case clause.NamedExpr:
			vars(x.Vars)
		case clause.Eq:
			vars([]any{x.Value})
		case clause.Neq:
			vars([]any{x.Value})
		case clause.IN:
			vars(x.Values)
		}
		return err == nil
	})
	return err
}

// restoreWhere puts back the conditions the caller wrote once the
// statement has run, keeping any GORM appended while running it (a soft
// delete's "deleted_at IS NULL", whose marker stays in the statement).
// FirstOrCreate and FirstOrInit read the values of a Where(&Model{...})
// or Where(map...) from the conditions after the query, and a statement
// run again (Count, then Find, or the same chain under another tenant's
// context) rewrites them afresh, under the tenant and keys of then. A soft
// delete folds the conditions into one And when one of them is a lone Or
// (GORM's SoftDeleteQueryClause); that fold is put back as an And of the
// caller's conditions. If GORM reshaped them another way, the rewritten
// conditions stay: still right for their tenant, and refused under any
// other (rewriter.sameTenant), never run for it.
func (st *stmtState) restoreWhere(stmt *gorm.Statement) {
	if st.where == nil {
		return
	}
	if c, ok := stmt.Clauses["WHERE"]; ok {
		w, ok := c.Expression.(clause.Where)
		n := len(st.rewritten)
		var exprs []clause.Expression
		switch {
		case !ok:
		case len(w.Exprs) >= n && reflect.DeepEqual(w.Exprs[:n], st.rewritten):
			exprs = append(append([]clause.Expression(nil), st.where...), w.Exprs[n:]...)
		case len(w.Exprs) >= 1 && reflect.DeepEqual(w.Exprs[0], clause.AndConditions{Exprs: st.rewritten}):
			exprs = append([]clause.Expression{clause.And(st.where...)}, w.Exprs[1:]...)
		}
		if exprs != nil {
			c.Expression = clause.Where{Exprs: exprs}
			stmt.Clauses["WHERE"] = c
		}
	}
	st.where, st.rewritten = nil, nil
}

// list rewrites exprs, returning a new slice if any changed.
func (r *rewriter) list(exprs []clause.Expression, negated bool) ([]clause.Expression, bool, error) {
	var out []clause.Expression
	for i, e := range exprs {
		ne, changed, err := r.expr(e, negated)
		if err != nil {
			return nil, false, err
		}
		if changed && out == nil {
			out = append(make([]clause.Expression, 0, len(exprs)), exprs[:i]...)
		}
		if out != nil {
			out = append(out, ne)
		}
	}
	if out == nil {
		return exprs, false, nil
	}
	return out, true, nil
}

// expr rewrites one condition; negated says a NOT is above it.
func (r *rewriter) expr(e clause.Expression, negated bool) (clause.Expression, bool, error) {
	switch x := e.(type) {
	case matched:
		return e, false, r.sameTenant(x)
	case clause.AndConditions:
		l, changed, err := r.list(x.Exprs, negated)
		return clause.AndConditions{Exprs: l}, changed, err
	case clause.OrConditions:
		l, changed, err := r.list(x.Exprs, negated)
		return clause.OrConditions{Exprs: l}, changed, err
	case clause.NotConditions:
		l, changed, err := r.list(x.Exprs, !negated)
		return clause.NotConditions{Exprs: l}, changed, err
	case clause.Where:
		l, changed, err := r.list(x.Exprs, negated)
		return clause.Where{Exprs: l}, changed, err
	case clause.Expr:
		return r.text(x, negated)
	case clause.NamedExpr:
		if ef := encryptedIdent(r.m, x.SQL); ef != nil {
			return nil, false, unsearchable(ef, "a condition with named arguments (@name) is not rewritten: write it with ?")
		}
		if jf := r.joinedIdent(x.SQL); jf != nil {
			return nil, false, refuseJoined(jf)
		}
		if ef := encryptedVars(r.m, x.Vars); ef != nil {
			return nil, false, unsearchable(ef, "an encrypted column passed as an argument compares ciphertext")
		}
		return e, false, nil
	case clause.Eq:
		ef, err := r.column(x.Column)
		if ef == nil || err != nil {
			return e, false, err
		}
		v, ok := plainArg(x.Value)
		if !ok {
			return nil, false, unsearchable(ef, "its value cannot be read from the condition")
		}
		if isNil(v) {
			return e, false, nil // IS NULL
		}
		if negated {
			return nil, false, unsearchable(ef, "a negated equality (NOT, <>) is not rewritten: a blind index would also exclude rows that merely share the index")
		}
		values := []any{v}
		switch v.(type) {
		case []string, []int, []int32, []int64, []uint, []uint32, []uint64, []any:
			values = listValues(v) // GORM builds IN for these
		}
		values, _, err = r.scalars(ef, values)
		if err != nil {
			return nil, false, err
		}
		repl, err := r.equal(ef, values)
		return repl, err == nil, err
	case clause.IN:
		ef, err := r.column(x.Column)
		if ef == nil || err != nil {
			return e, false, err
		}
		if negated {
			return nil, false, unsearchable(ef, "a negated equality (NOT IN) is not rewritten: a blind index would also exclude rows that merely share the index")
		}
		values := x.Values
		if len(values) == 1 {
			if l, ok := values[0].([]any); ok {
				values = l // GORM builds IN (...) of it
			}
		}
		values, _, err = r.scalars(ef, values)
		if err != nil {
			return nil, false, err
		}
		repl, err := r.equal(ef, values)
		return repl, err == nil, err
	case clause.Neq:
		ef, err := r.column(x.Column)
		if ef == nil || err != nil || isNil(x.Value) {
			return e, false, err // IS NOT NULL
		}
		return nil, false, unsearchable(ef, "<> is not rewritten, only equality")
	case clause.Gt:
		return r.refuseColumn(e, x.Column, ">")
	case clause.Gte:
		return r.refuseColumn(e, x.Column, ">=")
	case clause.Lt:
		return r.refuseColumn(e, x.Column, "<")
	case clause.Lte:
		return r.refuseColumn(e, x.Column, "<=")
	case clause.Like:
		return r.refuseColumn(e, x.Column, "LIKE")
	}
	return e, false, r.opaque(e)
}

// sameTenant fails a lookup built for another tenant than the
// statement's: it would find that tenant's rows (and count them, or hand
// out their plaintext columns) for this one.
func (r *rewriter) sameTenant(x matched) error {
	if x.tenant == "" || r.tenant == "" || x.tenant == r.tenant {
		return nil
	}
	err := fmt.Errorf("%w: a lookup built for tenant %q (Match, or a Where the plugin rewrote) in a statement run for tenant %q: build the statement again under its tenant", field.ErrTenantMismatch, x.tenant, r.tenant)
	if t := r.m.tenant; t != nil {
		return &FieldError{Op: "where", Model: r.m.name, Field: t.Name, Table: r.m.schema.Table, Column: t.DBName, Err: err}
	}
	return r.m.fields[0].errorf("where", err)
}

// refuseColumn fails a comparison other than equality on an encrypted
// column: the database would compare ciphertext.
func (r *rewriter) refuseColumn(e clause.Expression, col any, op string) (clause.Expression, bool, error) {
	ef, err := r.column(col)
	if ef == nil || err != nil {
		return e, false, err
	}
	return nil, false, unsearchable(ef, "%s would compare ciphertext, which has no order", op)
}

// column returns the encrypted field a clause's column names, nil if it
// names none. A name qualified by another table than the statement's is
// refused: the plugin cannot tell which column it is.
func (r *rewriter) column(col any) (*encField, error) {
	var qual, name string
	switch c := col.(type) {
	case clause.Column:
		if c.Raw {
			return r.columnText(c.Name)
		}
		if strings.Contains(c.Name, ".") {
			return r.columnText(c.Name)
		}
		qual, name = c.Table, c.Name
		if qual == clause.CurrentTable {
			qual = ""
		}
	case string:
		return r.columnText(c)
	case clause.Expression:
		return nil, r.opaque(c) // GORM writes its SQL as the column
	default:
		return r.columnText(fmt.Sprint(c)) // GORM writes it as text
	}
	return r.namedColumn(qual, name)
}

// namedColumn is the encrypted field a column named name, qualified by
// qual or not, refers to, or nil; a name qualified by another table, or
// one of a joined model's encrypted columns, is refused.
func (r *rewriter) namedColumn(qual, name string) (*encField, error) {
	ef := encryptedByName(r.m, name)
	if ef != nil && qual != "" && !r.ownTable(qual) {
		return nil, unsearchable(ef, "a column qualified by another table (%s) may be this encrypted one", qual)
	}
	if ef == nil {
		for _, jm := range r.joined {
			if jf := r.joinedColumn(jm, qual, name); jf != nil {
				return nil, refuseJoined(jf)
			}
		}
	}
	return ef, nil
}

// columnText is column for a name given as text: "email",
// "patients.email", `"patients"."email"`. Anything else that mentions an
// encrypted column is refused.
func (r *rewriter) columnText(text string) (*encField, error) {
	toks, clean := sqlTokens(text)
	if qual, name, n := colRef(toks); clean && n == len(toks) && n > 0 {
		return r.namedColumn(qual, name)
	}
	if ef := encryptedIdent(r.m, text); ef != nil {
		return nil, unsearchable(ef, "an expression on an encrypted column is not rewritten")
	}
	if jf := r.joinedIdent(text); jf != nil {
		return nil, refuseJoined(jf)
	}
	return nil, nil
}

// ownTable reports whether qual names the statement's table.
func (r *rewriter) ownTable(qual string) bool {
	return strings.EqualFold(qual, r.m.schema.Table) || (r.db.Statement.Table != "" && strings.EqualFold(qual, r.db.Statement.Table))
}

// isNil reports whether GORM writes v as NULL: nil, a nil pointer, or a
// driver.Valuer whose value is nil (sql.NullString{}).
func isNil(v any) bool {
	if vr, ok := v.(interface{ Value() (any, error) }); ok {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return true
		}
		if x, err := vr.Value(); err == nil {
			v = x
		}
	}
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// plainArg returns the Go value behind a condition's argument. GORM
// passes the fields of Where(&Model{...}) wrapped in its serializer
// value (unexported, with exported Field and Destination), whose Value
// would seal the plaintext; the plain field is read from the row
// instead. ok is false if a wrapper cannot be read.
func plainArg(v any) (any, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return v, true
	}
	e := rv.Elem()
	if e.Kind() != reflect.Struct || e.Type().Name() != "serializer" || e.Type().PkgPath() != "gorm.io/gorm/schema" {
		return v, true
	}
	f, _ := e.FieldByName("Field").Interface().(*schema.Field)
	dest, _ := e.FieldByName("Destination").Interface().(reflect.Value)
	if f == nil || !dest.IsValid() {
		return nil, false
	}
	fv := valueAt(f, dest)
	if !fv.IsValid() {
		return nil, false
	}
	return fv.Interface(), true
}

// searchable reports whether equality on ef can be rewritten: the same
// modes Match serves. A write through a shortened blind index is
// refused: such an index matches other values by design, and an UPDATE
// or DELETE would change their rows too.
func (r *rewriter) searchable(ef *encField) error {
	switch {
	case ef.bidx != nil:
		bits := ef.spec.BlindIndex.Bits
		if bits == 0 {
			bits = 8 * ef.spec.BlindIndex.Length
		}
		if bits == 0 {
			bits = fieldcore.DefaultIndexBits
		}
		if r.write && bits < fieldcore.DefaultIndexBits {
			return unsearchable(ef, "its blind index is %d bits (bidxlen, bits), short enough to match other values by design, so an UPDATE or DELETE through it could change their rows: find the rows (Where or Match), compare the field, and write by primary key", bits)
		}
		return nil
	case ef.spec.Mode == field.Deterministic && ef.bound != nil:
		return unsearchable(ef, "its values are bound to their rows (bind:%s), so equal values differ; give it a blind index", ef.bound.Name)
	case ef.spec.Mode == field.Deterministic:
		return nil
	}
	return unsearchable(ef, "it is randomized and has no blind index (tag it deterministic or blindindex:<column>)")
}

// equal returns the condition that replaces "ef equals one of values":
// for each value, the condition Match builds (its tenant condition, then
// the index or deterministic column IN the value's forms), merged into
// one IN; with allowplaintext, OR the column equal to the plaintext. A
// value GORM would write as NULL matches no row in SQL's "= NULL", and
// is dropped.
func (r *rewriter) equal(ef *encField, values []any) (clause.Expression, error) {
	if err := r.searchable(ef); err != nil {
		return nil, err
	}
	ctx := r.db.Statement.Context
	var prefix, idx, plain []clause.Expression
	tenant := ""
	for _, v := range values {
		if isNil(v) {
			continue
		}
		pt, ok, err := encode(v)
		if err != nil {
			return nil, ef.errorf("where", err)
		}
		if !ok {
			continue
		}
		if !r.check {
			conds, err := matchConds(ctx, r.db, ef.f.Name, v)
			if err != nil {
				return nil, err
			}
			last := conds[len(conds)-1]
			if mt, ok := last.(matched); ok {
				last, tenant = mt.Expression, mt.tenant
			}
			prefix, idx = conds[:len(conds)-1], append(idx, last)
		}
		if ef.spec.AllowPlaintext && !codec.IsValue(pt) && !codec.IsArmored(pt) {
			pe, err := r.plaintextEq(ef, pt)
			if err != nil {
				return nil, err
			}
			plain = append(plain, pe)
		}
	}
	if len(idx) == 0 {
		// No value (or the check pass): IN (NULL), no row.
		return matched{clause.IN{Column: clause.Column{Table: clause.CurrentTable, Name: ef.column}}, ""}, nil
	}
	alts := append(mergeIN(idx), plain...)
	body := alts[0]
	if len(alts) > 1 {
		body = clause.Or(alts...)
	}
	return matched{clause.And(append(append([]clause.Expression(nil), prefix...), body)...), tenant}, nil
}

// mergeIN joins conditions that are all IN on one column into one IN.
func mergeIN(exprs []clause.Expression) []clause.Expression {
	first, ok := exprs[0].(clause.IN)
	if !ok || len(exprs) == 1 {
		return exprs
	}
	all := append([]any(nil), first.Values...)
	for _, e := range exprs[1:] {
		in, ok := e.(clause.IN)
		if !ok || !reflect.DeepEqual(in.Column, first.Column) {
			return exprs
		}
		all = append(all, in.Values...)
	}
	return []clause.Expression{clause.IN{Column: first.Column, Values: all}}
}

// plaintextEq is the condition that finds a row still holding the
// plaintext pt in ef's column (allowplaintext, mid-migration): the stored
// bytes equal pt exactly, which is how the read path decodes them, on
// each database's terms:
//
//   - Postgres: a bytea column is compared with bytea (a string
//     parameter would be parsed as bytea text, where a backslash is an
//     escape); an armored (text) column with text.
//   - MySQL/MariaDB: the parameter is cast to BINARY, so a text column is
//     compared byte for byte rather than under its collation, which
//     would match other case and trailing spaces.
//   - SQLite: the column is cast to BLOB, so a value stored as TEXT (a
//     different storage class, never equal to a blob) compares by its
//     UTF-8 bytes.
//
// The " ?" after "(" is deliberate: GORM expands a slice argument that
// directly follows a parenthesis into a list.
func (r *rewriter) plaintextEq(ef *encField, pt []byte) (clause.Expression, error) {
	col := clause.Column{Table: clause.CurrentTable, Name: ef.column}
	switch r.db.Dialector.Name() {
	case "postgres":
		if ef.spec.Armor {
			return clause.Expr{SQL: "? = CAST( ? AS text)", Vars: []any{col, string(pt)}}, nil
		}
		return clause.Expr{SQL: "? = CAST( ? AS bytea)", Vars: []any{col, pt}}, nil
	case "mysql":
		return clause.Expr{SQL: "? = CAST( ? AS BINARY)", Vars: []any{col, pt}}, nil
	case "sqlite":
		return clause.Expr{SQL: "CAST( ? AS BLOB) = ?", Vars: []any{col, pt}}, nil
	}
	return nil, unsearchable(ef, "rows still in plaintext (allowplaintext) can be found on Postgres, MySQL/MariaDB and SQLite only, not on %s", r.db.Dialector.Name())
}

// ordering refuses ORDER BY and GROUP BY (and HAVING) on an encrypted
// column: they would order or group ciphertext.
func (r *rewriter) ordering(stmt *gorm.Statement) error {
	if c, ok := stmt.Clauses["ORDER BY"]; ok && c.Expression != nil {
		ob, ok := c.Expression.(clause.OrderBy)
		if !ok {
			return r.opaque(c.Expression)
		}
		for _, col := range ob.Columns {
			if ef := encryptedColumn(r.m, col.Column); ef != nil {
				return unsearchable(ef, "ORDER BY would sort ciphertext")
			}
		}
		if ob.Expression != nil {
			if err := r.opaque(ob.Expression); err != nil {
				return err
			}
		}
	}
	if c, ok := stmt.Clauses["GROUP BY"]; ok && c.Expression != nil {
		gb, ok := c.Expression.(clause.GroupBy)
		if !ok {
			return r.opaque(c.Expression)
		}
		for _, col := range gb.Columns {
			if ef := encryptedColumn(r.m, col); ef != nil {
				return unsearchable(ef, "GROUP BY would group ciphertext (deterministic values of different key versions apart)")
			}
		}
		for _, h := range gb.Having {
			if err := r.opaque(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// selects refuses a SELECT list that does more with an encrypted column
// than read it: Select("id, CASE WHEN email = ? ...", v) or
// Select("email = 'ann@example.com' AS hit") would send the plaintext to
// the database and the log, and compare it with ciphertext. A list of
// column references (qualified or not, with or without an alias) and *
// is read as it is; any other text naming an encrypted column, and any
// SELECT built with arguments or by hand that names one, is refused.
func (r *rewriter) selects(stmt *gorm.Statement) error {
	for _, s := range stmt.Selects {
		if err := r.selectText(s); err != nil {
			return err
		}
	}
	c, ok := stmt.Clauses["SELECT"]
	if !ok || c.Expression == nil {
		return nil
	}
	sel, ok := c.Expression.(clause.Select)
	if !ok {
		return r.opaque(c.Expression) // Select with arguments
	}
	for _, col := range sel.Columns {
		if col.Raw {
			if err := r.selectText(col.Name); err != nil {
				return err
			}
		}
	}
	if sel.Expression != nil {
		return r.opaque(sel.Expression)
	}
	return nil
}

// selectText checks one entry of a SELECT list given as text.
func (r *rewriter) selectText(text string) error {
	ef := encryptedIdent(r.m, text)
	if ef == nil {
		return nil
	}
	toks, clean := sqlTokens(text)
	if !clean {
		return unsearchable(ef, "a SELECT whose text can be read more than one way names it")
	}
	for len(toks) > 0 {
		n := 0
		switch _, _, c := colRef(toks); {
		case c > 0:
			n = c
		case op(toks[0], "*"):
			n = 1
		case len(toks) >= 3 && toks[0].kind == tokIdent && op(toks[1], ".") && op(toks[2], "*"):
			n = 3
		}
		if n > 0 && n < len(toks) && keyword(toks[n], "as") {
			n++
		}
		if n > 0 && n < len(toks) && toks[n].kind == tokIdent && !keyword(toks[n], "from") {
			n++ // an alias
		}
		if n == 0 || (n < len(toks) && !op(toks[n], ",")) {
			return unsearchable(ef, "a SELECT expression on an encrypted column would compute on ciphertext or compare it with a plaintext: select the column and compute in Go")
		}
		if n < len(toks) {
			n++ // the comma
		}
		toks = toks[n:]
	}
	return nil
}

// joins refuses a JOIN written as SQL with values (Joins("JOIN ... ON
// ... email = ?", v)) whose text names an encrypted column of the model:
// its ON condition would compare the column with a plaintext, sending it
// to the database and the log, and is not rewritten.
func (r *rewriter) joins(stmt *gorm.Statement) error {
	for _, j := range stmt.Joins {
		if len(j.Conds) == 0 {
			continue
		}
		if ef := encryptedIdent(r.m, j.Name); ef != nil {
			return unsearchable(ef, "a JOIN condition with values on it is not rewritten")
		}
		for _, jm := range r.joined {
			if ef := encryptedIdent(jm, j.Name); ef != nil {
				return unsearchable(ef, "a JOIN condition with values on it is not rewritten")
			}
		}
	}
	return nil
}

// joinedModels returns the models with encrypted fields that the
// statement joins: an association's (Joins("Company")), or a model whose
// table a JOIN written as SQL names, among the models the plugin has
// seen. A condition on their columns is not rewritten (the rewrite
// builds the statement model's lookups), and in a statement that joins
// them a name the statement's own table does not have may be theirs.
func (p *plugin) joinedModels(stmt *gorm.Statement) []*model {
	if len(stmt.Joins) == 0 {
		return nil
	}
	var out []*model
	add := func(m *model) {
		if len(m.fields) > 0 && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for _, j := range stmt.Joins {
		if stmt.Schema != nil {
			if rel, ok := stmt.Schema.Relationships.Relations[j.Name]; ok && rel.FieldSchema != nil {
				add(p.reg.model(origin(rel.FieldSchema)))
				continue
			}
		}
		toks, _ := sqlTokens(j.Name)
		p.reg.models.Range(func(_, v any) bool {
			m := v.(*model)
			for _, t := range toks {
				if t.kind == tokIdent && strings.EqualFold(t.text, m.schema.Table) {
					add(m)
					break
				}
			}
			return true
		})
	}
	return out
}

// joinedIdent returns an encrypted field of a joined model that the SQL
// text may name: a name qualified by another table than the statement's,
// or a bare name the statement's own table does not have (SQL resolves
// it in the joined tables). An unclean text is checked word by word.
func (r *rewriter) joinedIdent(sql string) *encField {
	if len(r.joined) == 0 {
		return nil
	}
	toks, clean := sqlTokens(sql)
	for _, jm := range r.joined {
		if !clean {
			if ef := encryptedIdent(jm, sql); ef != nil {
				return ef
			}
			continue
		}
		for i, t := range toks {
			if t.kind != tokIdent || isNullTest(toks[i+1:]) {
				continue
			}
			qual := ""
			if i >= 2 && op(toks[i-1], ".") && toks[i-2].kind == tokIdent {
				qual = toks[i-2].text
			}
			if ef := r.joinedColumn(jm, qual, t.text); ef != nil {
				return ef
			}
		}
	}
	return nil
}

// joinedColumn returns jm's encrypted field named name, if a reference
// qual.name (qual may be empty) in the statement can be that column.
func (r *rewriter) joinedColumn(jm *model, qual, name string) *encField {
	ef := encryptedByName(jm, name)
	if ef == nil {
		return nil
	}
	if qual == "" {
		if _, own := r.m.schema.FieldsByDBName[strings.ToLower(name)]; own || r.m.schema.LookUpField(name) != nil {
			return nil // the statement's own column
		}
		return ef
	}
	if r.ownTable(qual) {
		return nil
	}
	return ef
}

// refuseJoined is the error of a condition on a joined model's encrypted
// column.
func refuseJoined(ef *encField) error {
	return unsearchable(ef, "it is a column of the joined table %s: conditions on another model's encrypted column are not rewritten; find its rows through its own model (Where or Match), then join by key", ef.table)
}

// opaque checks an expression the plugin does not rewrite: it is built
// into a scratch statement, never sent, and refused if its SQL names an
// encrypted column of the model.
func (r *rewriter) opaque(e clause.Expression) (err error) {
	stmt := &gorm.Statement{DB: r.db, Context: r.db.Statement.Context, Table: r.db.Statement.Table,
		Schema: r.db.Statement.Schema, Clauses: map[string]clause.Clause{}}
	defer func() {
		if recover() != nil {
			err = fmt.Errorf("%w: model %s: a condition of type %T could not be checked", ErrUnsearchable, r.m.name, e)
		}
	}()
	e.Build(stmt)
	if ef := encryptedIdent(r.m, stmt.SQL.String()); ef != nil {
		return unsearchable(ef, "a condition of type %T on it is not rewritten", e)
	}
	if jf := r.joinedIdent(stmt.SQL.String()); jf != nil {
		return refuseJoined(jf)
	}
	return nil
}

// unsearchable is the error of a condition on ef the plugin refuses.
func unsearchable(ef *encField, format string, args ...any) error {
	return ef.errorf("where", fmt.Errorf("%w: "+format, append([]any{ErrUnsearchable}, args...)...))
}
