package gormplugin

import (
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
)

// Tenant scoping of writes. Under field.WithTenant a request may read
// only its tenant's rows (read.go refuses any other); the same holds for
// what it changes. For a model with a `colcrypt:"tenant"` field, an
// UPDATE or DELETE is limited to the context's tenant, a row, condition
// or assignment naming another tenant fails with field.ErrTenantMismatch
// before any SQL is sent, an empty tenant field of an updated row is
// filled from the context rather than written blank, and an upsert (Save
// of a row the UPDATE did not find) cannot take over another tenant's
// row (upsert.go). Without a tenant in the context a write is not
// scoped: its own conditions decide, as in plain GORM.

// scopeTenant returns the tenant that scopes a write on m: the context's,
// when m has a tenant field.
func (st *stmtState) scopeTenant(m *model) (string, bool) {
	if m == nil || m.tenant == nil || !st.hasCtxTenant {
		return "", false
	}
	return st.ctxTenant, true
}

// scopeWrite checks a write before its SQL is built: under a context
// tenant, no row or condition naming another tenant. fill fills the
// empty tenant field of the rows. Conditions on encrypted columns are
// rewritten or refused after it (stmtState.rewriteConds), so that a statement
// naming another tenant fails before any key is looked up.
func (st *stmtState) scopeWrite(stmt *gorm.Statement, m *model, op string, fill bool) error {
	tenant, ok := st.scopeTenant(m)
	if !ok {
		return nil
	}
	if err := scopeRows(stmt, m, op, tenant, fill); err != nil {
		return err
	}
	var err error
	condTenants(stmt, m, func(t string) bool {
		if t != tenant {
			err = m.tenantMismatch(op, t, tenant)
			return false
		}
		return true
	})
	return err
}

// scopeRows refuses a statement whose rows (its Dest, and its Model when
// GORM takes keys from it too) name another tenant than tenant, and with
// fill sets the empty tenant field of addressable rows to tenant, so that
// Save writes the tenant rather than an empty string.
func scopeRows(stmt *gorm.Statement, m *model, op, tenant string, fill bool) error {
	values := []reflect.Value{stmt.ReflectValue}
	if stmt.Model != nil && !same(stmt.Model, stmt.Dest) {
		values = append(values, reflect.ValueOf(stmt.Model))
	}
	for _, v := range values {
		err := eachRow(v, func(row reflect.Value) error {
			if row.Type() != m.schema.ModelType {
				return nil
			}
			switch t := m.tenantOf(row); {
			case t == "":
				if fill && row.CanAddr() {
					return m.setTenant(stmt.Context, row, tenant)
				}
			case t != tenant:
				return m.tenantMismatch(op, t, tenant)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// scopeAssignments refuses an UPDATE that assigns the tenant column
// another tenant, or anything but a string, and turns an assignment of
// an empty string or NULL into the context's tenant: a row is never re-labelled or
// blanked.
func scopeAssignments(set clause.Set, m *model, tenant string) error {
	for i, a := range set {
		if !isTenantColumn(m, a.Column.Name) {
			continue
		}
		switch v := a.Value.(type) {
		case nil:
			set[i].Value = tenant
		case string:
			if v == "" {
				set[i].Value = tenant
			} else if v != tenant {
				return m.tenantMismatch("update", v, tenant)
			}
		default:
			return &FieldError{
				Op: "update", Model: m.name, Field: m.tenant.Name, Table: m.schema.Table, Column: m.tenant.DBName,
				Err: fmt.Errorf("%w: the tenant column can only be assigned the context's tenant %q, not a %T", field.ErrTenantMismatch, tenant, a.Value),
			}
		}
	}
	return nil
}

// limitToTenant adds "tenant column = tenant" to an UPDATE or DELETE,
// once. It adds nothing to a statement without conditions (hasKeys: GORM
// will add the rows' primary keys): GORM refuses such a statement with
// gorm.ErrMissingWhereClause unless AllowGlobalUpdate, and the tenant
// condition must not make a whole-table write look like a targeted one.
func (st *stmtState) limitToTenant(stmt *gorm.Statement, m *model, tenant string, hasKeys bool) {
	if st.scoped {
		return
	}
	if _, ok := stmt.Clauses["WHERE"]; !ok && !hasKeys && !stmt.AllowGlobalUpdate {
		return
	}
	stmt.AddClause(clause.Where{Exprs: []clause.Expression{
		clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: m.tenant.DBName}, Value: tenant},
	}})
	st.scoped = true
}

// deleteHasKeys reports whether gorm:delete will add primary key
// conditions from the statement's rows (the same rule as GORM's).
func deleteHasKeys(stmt *gorm.Statement) bool {
	_, vals := schema.GetIdentityFieldValuesMap(stmt.Context, stmt.ReflectValue, stmt.Schema.PrimaryFields)
	if len(vals) > 0 {
		return true
	}
	if stmt.ReflectValue.CanAddr() && !same(stmt.Dest, stmt.Model) && stmt.Model != nil {
		_, vals = schema.GetIdentityFieldValuesMap(stmt.Context, reflect.ValueOf(stmt.Model), stmt.Schema.PrimaryFields)
		return len(vals) > 0
	}
	return false
}

// beforeDelete runs before gorm:delete: Delete(&row), Delete(&Model{},
// id), Where(...).Delete(&Model{}) and the deletes of associations are
// checked and, under a context tenant, limited to its rows.
func (p *plugin) beforeDelete(db *gorm.DB) {
	st := p.begin(db)
	stmt := db.Statement
	if db.Error == nil && stmt.Schema == nil && stmt.SQL.Len() == 0 {
		db.AddError(st.report(p.tableConds(stmt)))
		return
	}
	if db.Error != nil || stmt.SQL.Len() > 0 {
		return
	}
	m := p.reg.model(stmt.Schema)
	if m.err != nil {
		db.AddError(st.report(m.err))
		return
	}
	if err := st.scopeWrite(stmt, m, "delete", false); err != nil {
		db.AddError(st.report(err))
		return
	}
	if err := st.rewriteConds(db, m, true); err != nil {
		db.AddError(st.report(err))
		return
	}
	if tenant, ok := st.scopeTenant(m); ok {
		st.limitToTenant(stmt, m, tenant, deleteHasKeys(stmt))
	}
}

// beforeRow runs before gorm:row (Row, Rows, Scan): conditions on
// encrypted columns are rewritten or refused as in a Find.
func (p *plugin) beforeRow(db *gorm.DB) {
	st := p.begin(db)
	stmt := db.Statement
	if db.Error == nil && stmt.Schema == nil && stmt.SQL.Len() == 0 {
		db.AddError(st.report(p.tableConds(stmt)))
		return
	}
	if db.Error != nil || stmt.SQL.Len() > 0 {
		return
	}
	m := p.reg.model(stmt.Schema)
	if m.err != nil {
		return // as before: the scan reports it
	}
	db.AddError(st.report(st.rewriteConds(db, m, false)))
}

// tableConds checks a statement on a table without a model
// (db.Table("patients").Where(...).Find(&maps), Update, Delete, Rows):
// the plugin cannot rewrite its conditions, so one that names an
// encrypted column of a model it has seen on that table is refused, as
// sent it would carry the plaintext. A table whose model the plugin has
// not seen yet is not checked.
func (p *plugin) tableConds(stmt *gorm.Statement) error {
	if stmt.Table == "" {
		return nil
	}
	var m *model
	p.reg.models.Range(func(_, v any) bool {
		if mm := v.(*model); len(mm.fields) > 0 && strings.EqualFold(mm.schema.Table, stmt.Table) {
			m = mm
			return false
		}
		return true
	})
	if m == nil {
		return nil
	}
	var err error
	walkConds(whereExprs(stmt), false, func(e clause.Expression, _ bool) bool {
		if ef := encryptedRef(m, e); ef != nil {
			err = unsearchable(ef, "the statement names table %s without its model: conditions on its encrypted columns are rewritten only with db.Model(&%s{})", stmt.Table, m.name)
			return false
		}
		return true
	})
	return err
}

// same reports whether a and b are the same value, without panicking on
// values Go cannot compare (a slice passed to Model and Delete).
func same(a, b any) bool {
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) {
		return false
	}
	if ta == nil {
		return true
	}
	if !ta.Comparable() {
		return false
	}
	return a == b
}

// tenantMismatch is the error of a write that names another tenant than
// the request's, for the tenant field of m.
func (m *model) tenantMismatch(op, named, ctxTenant string) error {
	return &FieldError{
		Op: op, Model: m.name, Field: m.tenant.Name, Table: m.schema.Table, Column: m.tenant.DBName,
		Err: fmt.Errorf("%w: statement names tenant %q, context %q", field.ErrTenantMismatch, named, ctxTenant),
	}
}
