package gormplugin

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
)

// Upserts under a context tenant. Save of a row whose UPDATE found
// nothing (the row is missing, or another tenant's: the UPDATE is limited
// to the context's tenant) falls back to INSERT ... ON CONFLICT DO UPDATE
// SET every column, tenant included: left alone, it would take another
// tenant's row over and re-label it. So an upsert on a model with a
// tenant field may update only a conflicting row of the context's tenant:
//
//   - Postgres and SQLite: ON CONFLICT ... DO UPDATE SET ... WHERE
//     table.tenant = <tenant>;
//   - MySQL and MariaDB, whose ON DUPLICATE KEY UPDATE has no WHERE: each
//     column = IF(tenant <=> <tenant>, VALUES(column), column), the tenant
//     column itself not assigned (mysqlUpsertBuilder).
//
// Another tenant's row is then left as it was, and afterwards the plugin
// looks for rows with the statement's primary keys under another tenant:
// if there is one the statement fails with field.ErrTenantMismatch, and
// GORM's transaction rolls back what it inserted (unless
// SkipDefaultTransaction).

// upsertGuard is an upsert limited to one tenant's rows.
type upsertGuard struct {
	tenant string
	column string // the tenant column
}

// tenantGuard is the condition the plugin adds to ON CONFLICT DO UPDATE,
// told apart so that a reused statement does not get it twice.
type tenantGuard struct{ clause.Eq }

// guardUpsert limits the statement's ON CONFLICT DO UPDATE, if any, to
// tenant's rows. On a database other than Postgres, SQLite and MySQL the
// plugin does not know how the dialect builds the clause, and refuses the
// upsert rather than let it re-label a row.
func (st *stmtState) guardUpsert(stmt *gorm.Statement, m *model, tenant string) error {
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok {
		return nil
	}
	oc, ok := c.Expression.(clause.OnConflict)
	if !ok || oc.DoNothing || (!oc.UpdateAll && len(oc.DoUpdates) == 0) {
		return nil
	}
	for _, a := range oc.DoUpdates {
		// The guard below knows the tenant column by its name; a value
		// other than the inserted row's (which is the tenant's) would
		// move the conflicting row to another tenant.
		if f := m.misspelled(a.Column.Name, a.Column.Raw, false); f != nil {
			return m.misspelledError("upsert", a.Column.Name, f)
		}
		if a.Column.Name != m.tenant.DBName {
			continue
		}
		if v, ok := a.Value.(clause.Column); !ok || v.Table != "excluded" || v.Name != m.tenant.DBName {
			return &FieldError{
				Op: "upsert", Model: m.name, Field: m.tenant.Name, Table: m.schema.Table, Column: m.tenant.DBName,
				Err: fmt.Errorf("%w: ON CONFLICT DO UPDATE can set the tenant column only from the inserted row, whose tenant is %q", field.ErrTenantMismatch, tenant),
			}
		}
	}
	switch name := stmt.Dialector.Name(); name {
	case "mysql":
		st.upsert = &upsertGuard{tenant: tenant, column: m.tenant.DBName}
		return nil // mysqlUpsertBuilder
	case "postgres", "sqlite":
		st.upsert = &upsertGuard{tenant: tenant, column: m.tenant.DBName}
	default:
		return &FieldError{
			Op: "upsert", Model: m.name, Field: m.tenant.Name, Table: m.schema.Table, Column: m.tenant.DBName,
			Err: fmt.Errorf("%w: an upsert (Save of a row the UPDATE did not find, or ON CONFLICT DO UPDATE) under a tenant on %s: it could re-label another tenant's row", ErrUnsupported, name),
		}
	}
	for _, e := range oc.Where.Exprs {
		if _, ok := e.(tenantGuard); ok {
			return nil
		}
	}
	oc.Where.Exprs = append(append([]clause.Expression(nil), oc.Where.Exprs...), tenantGuard{clause.Eq{
		Column: clause.Column{Table: clause.CurrentTable, Name: m.tenant.DBName}, Value: tenant,
	}})
	stmt.AddClause(oc)
	return nil
}

// mysqlUpsertBuilder wraps the MySQL dialect's ON CONFLICT builder: for
// a guarded upsert every assignment becomes IF(tenant <=> ?, value,
// column). The tenant column is not assigned, so every IF of the row
// compares with the row's own tenant (MySQL applies the assignments in
// order, each seeing the ones before).
func (p *plugin) mysqlUpsertBuilder(next clause.ClauseBuilder) clause.ClauseBuilder {
	return func(c clause.Clause, b clause.Builder) {
		if stmt, ok := b.(*gorm.Statement); ok {
			if st, ok := stmt.Context.Value(p.reg).(*stmtState); ok && st.p == p && st.upsert != nil {
				if oc, ok := c.Expression.(clause.OnConflict); ok && !oc.DoNothing {
					c.Expression = st.upsert.mysql(oc)
				}
			}
		}
		next(c, b)
	}
}

func (g *upsertGuard) mysql(oc clause.OnConflict) clause.OnConflict {
	tenantCol := clause.Column{Name: g.column}
	set := make(clause.Set, 0, len(oc.DoUpdates))
	for _, a := range oc.DoUpdates {
		if a.Column.Name == g.column {
			continue
		}
		v := a.Value
		if col, ok := v.(clause.Column); ok && col.Table == "excluded" {
			col.Table = ""
			v = clause.Expr{SQL: "VALUES(?)", Vars: []any{col}}
		}
		set = append(set, clause.Assignment{Column: a.Column, Value: clause.Expr{
			SQL:  "IF(? <=> ?, ?, ?)",
			Vars: []any{tenantCol, g.tenant, v, clause.Column{Name: a.Column.Name}},
		}})
	}
	oc.DoUpdates = set
	return oc
}

// checkUpsert runs after a guarded upsert: a row with one of the
// statement's primary keys under another tenant was left unchanged, and
// the statement fails.
func (p *plugin) checkUpsert(db *gorm.DB, g *upsertGuard) {
	stmt := db.Statement
	s := origin(stmt.Schema)
	if len(s.PrimaryFields) == 0 {
		return
	}
	_, vals := schema.GetIdentityFieldValuesMap(stmt.Context, stmt.ReflectValue, s.PrimaryFields)
	col, values := schema.ToQueryValues("", s.PrimaryFieldDBNames, vals)
	if len(values) == 0 {
		return
	}
	var n int64
	err := db.Session(&gorm.Session{NewDB: true}).Raw("SELECT count(*) FROM ? WHERE ? AND ?",
		clause.Table{Name: stmt.Table},
		clause.IN{Column: col, Values: values},
		clause.Neq{Column: clause.Column{Name: g.column}, Value: g.tenant},
	).Row().Scan(&n)
	if err != nil {
		db.AddError(fmt.Errorf("gormplugin: upsert: checking the tenant of conflicting rows: %w", err))
		return
	}
	if n > 0 {
		m := p.reg.model(s)
		db.AddError(&FieldError{
			Op: "upsert", Model: m.name, Field: m.tenant.Name, Table: s.Table, Column: g.column,
			Err: fmt.Errorf("%w: %d row(s) with the same primary key belong to another tenant than %q and were left unchanged", field.ErrTenantMismatch, n, g.tenant),
		})
	}
}

// checkUpsertSet refuses an ON CONFLICT DO UPDATE that would write what
// the plugin did not seal for the row, before any SQL:
//
//   - an encrypted column, a blind index column or a named index column
//     may be assigned only from the inserted row's same column
//     (excluded.col, what clause.AssignmentColumns and UpdateAll build).
//     Anything else (a Go value, an expression, another column) would
//     store a plaintext, a value sealed for another column, or an index
//     no value of the row gives;
//   - an encrypted column assigned from the inserted row brings its blind
//     index along (added if the statement left it out), or the index would
//     keep describing the old value;
//   - a row-bound field assigned from the inserted row needs the inserted
//     row's key too: its bind column assigned from the inserted row, or
//     (not on MySQL, which ignores conflict columns) a conflict column, so
//     that both rows hold the same key;
//   - the conflict clause's conditions (Where, TargetWhere) may not name
//     an encrypted column: they are not rewritten, and would compare the
//     column with a plaintext.
//
// Named indexes are kept in step by indexUpsert.
func checkUpsertSet(db *gorm.DB, m *model) error {
	stmt := db.Statement
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok {
		return nil
	}
	oc, ok := c.Expression.(clause.OnConflict)
	if !ok || oc.DoNothing {
		return nil
	}
	r := &rewriter{db: db, m: m}
	for _, w := range [][]clause.Expression{oc.Where.Exprs, oc.TargetWhere.Exprs} {
		for _, e := range w {
			if _, ok := e.(tenantGuard); ok {
				continue
			}
			if err := r.opaque(e); err != nil {
				return err
			}
		}
	}
	if oc.UpdateAll {
		return nil
	}
	fromRow := map[string]bool{} // lower-case column names
	for _, a := range oc.DoUpdates {
		name := columnName(a.Column.Name)
		if v, ok := a.Value.(clause.Column); ok && v.Table == "excluded" && !v.Raw && !a.Column.Raw && strings.EqualFold(columnName(v.Name), name) {
			fromRow[strings.ToLower(name)] = true
			continue
		}
		if ef := encryptedByName(m, name); ef != nil {
			return ef.errorf("upsert", fmt.Errorf("%w: ON CONFLICT DO UPDATE can set an encrypted column only from the inserted row (clause.AssignmentColumns), which the plugin sealed", ErrUnsupported))
		}
		if a.Column.Raw {
			if ef := encryptedIdent(m, a.Column.Name); ef != nil {
				return ef.errorf("upsert", fmt.Errorf("%w: ON CONFLICT DO UPDATE of a raw column naming an encrypted one", ErrUnsupported))
			}
		}
		for _, ef := range m.fields {
			if ef.bidx != nil && strings.EqualFold(ef.bidx.DBName, name) {
				return ef.errorf("upsert", fmt.Errorf("%w: ON CONFLICT DO UPDATE can set the blind index column %s only from the inserted row", ErrUnsupported, ef.bidx.DBName))
			}
		}
		for _, x := range m.indexes {
			if strings.EqualFold(x.f.DBName, name) {
				return x.errorf("upsert", fmt.Errorf("%w: ON CONFLICT DO UPDATE can set index %s only from the inserted row", ErrUnsupported, x.ix.Name))
			}
		}
	}
	var add []string
	for _, ef := range m.fields {
		if !fromRow[strings.ToLower(ef.column)] {
			continue
		}
		if ef.bidx != nil && !fromRow[strings.ToLower(ef.bidx.DBName)] {
			add = append(add, ef.bidx.DBName)
			fromRow[strings.ToLower(ef.bidx.DBName)] = true
		}
		if ef.bound != nil && !fromRow[strings.ToLower(ef.bound.DBName)] && !conflictColumn(stmt, oc, ef.bound.DBName) {
			return ef.errorf("upsert", fmt.Errorf("%w: its values are bound to their rows (bind:%s): an upsert that sets it must set %s from the inserted row too, or conflict on it", ErrUnsupported, ef.bound.Name, ef.bound.DBName))
		}
	}
	if len(add) > 0 {
		oc.DoUpdates = append(append(clause.Set(nil), oc.DoUpdates...), clause.AssignmentColumns(add)...)
		stmt.AddClause(oc)
	}
	return nil
}

// conflictColumn reports whether the upsert conflicts on column, which
// then holds the same value in the inserted and the conflicting row.
// MySQL's ON DUPLICATE KEY UPDATE takes no conflict columns: any unique
// key can conflict.
func conflictColumn(stmt *gorm.Statement, oc clause.OnConflict, column string) bool {
	if stmt.Dialector.Name() == "mysql" {
		return false
	}
	for _, c := range oc.Columns {
		if strings.EqualFold(columnName(c.Name), column) {
			return true
		}
	}
	return false
}
