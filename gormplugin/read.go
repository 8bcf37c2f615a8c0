package gormplugin

import (
	"context"
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/colcrypt/colcrypt/codec"
)

// beforeQuery runs before gorm:query: it starts the statement's state,
// rewrites conditions on encrypted columns (rewrite.go), puts the schema
// copy that follows tenant columns in place (clone.go), and refuses a
// Pluck of an encrypted column, which would hand out ciphertext as data.
func (p *plugin) beforeQuery(db *gorm.DB) {
	st := p.begin(db)
	st.query = true
	stmt := db.Statement
	if db.Error == nil && stmt.Schema == nil {
		db.AddError(st.report(p.tableConds(stmt)))
		return
	}
	if db.Error != nil {
		return
	}
	m := p.reg.model(stmt.Schema)
	if m.err != nil {
		db.AddError(st.report(m.err))
		return
	}
	if err := st.rewriteConds(db, m, false); err != nil {
		db.AddError(st.report(err))
		return
	}
	if len(m.fields) > 0 && pluckTarget(stmt.ReflectValue) {
		if col := pluckedColumn(stmt); col != "" {
			if ef := m.byColumn[col]; ef != nil {
				db.AddError(st.report(ef.errorf("pluck", fmt.Errorf("%w: Pluck or Find into a non-struct returns the stored bytes; Select the column and Find into the model", ErrUnsupported))))
				return
			}
		}
	}
	c := p.reg.clone(stmt.Schema)
	if isMapDest(stmt.Dest) {
		c = p.reg.mapClone(stmt.Schema)
	}
	if c != stmt.Schema {
		st.schema = origin(stmt.Schema)
		stmt.Schema = c
	}
}

// afterScan runs after gorm:query, before preloads and AfterFind hooks:
// it puts the statement's own schema and conditions back, settles the
// values still parked, and opens the encrypted columns of map results.
func (p *plugin) afterScan(db *gorm.DB) {
	st, ok := db.Statement.Context.Value(p.reg).(*stmtState)
	if !ok || st.p != p {
		return
	}
	if st.schema != nil {
		db.Statement.Schema = st.schema
		st.schema = nil
	}
	st.restoreWhere(db.Statement)
	if len(st.pending) > 0 {
		db.AddError(st.leftovers(db.Statement.Context))
	}
	if db.Error == nil && db.Statement.Schema != nil {
		p.openMaps(db, st)
	}
	st.query = false
	db.Statement.Context = st.parent
}

func isMapDest(d any) bool {
	switch d.(type) {
	case map[string]any, *map[string]any, []map[string]any, *[]map[string]any:
		return true
	}
	return false
}

// pluckTarget reports whether a result of type v is not a struct: a
// column scanned into it bypasses every serializer.
func pluckTarget(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	t := v.Type()
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() != reflect.Struct && t.Kind() != reflect.Map && t.Kind() != reflect.Interface
}

// pluckedColumn returns the one column a statement selects, "" if it
// selects none or several.
func pluckedColumn(stmt *gorm.Statement) string {
	if len(stmt.Selects) == 1 {
		if f := stmt.Schema.LookUpField(stmt.Selects[0]); f != nil {
			return f.DBName
		}
		return stmt.Selects[0]
	}
	if c, ok := stmt.Clauses["SELECT"]; ok {
		if sel, ok := c.Expression.(clause.Select); ok && len(sel.Columns) == 1 {
			if f := stmt.Schema.LookUpField(sel.Columns[0].Name); f != nil {
				return f.DBName
			}
			return sel.Columns[0].Name
		}
	}
	return ""
}

// openMaps opens the encrypted columns of a Find into maps: each map's
// tenant column, if selected, is its tenant.
func (p *plugin) openMaps(db *gorm.DB, st *stmtState) {
	var rows []map[string]any
	switch d := db.Statement.Dest.(type) {
	case map[string]any:
		rows = []map[string]any{d}
	case *map[string]any:
		if d != nil && *d != nil {
			rows = []map[string]any{*d}
		}
	case *[]map[string]any:
		if d != nil {
			rows = *d
		}
	case []map[string]any:
		rows = d
	default:
		return
	}
	m := p.reg.model(db.Statement.Schema)
	if m.err != nil || len(m.fields) == 0 {
		return
	}
	ctx := db.Statement.Context
	for _, row := range rows {
		if err := p.openMap(ctx, st, m, row); err != nil {
			db.AddError(st.report(err))
			return
		}
	}
}

func (p *plugin) openMap(ctx context.Context, st *stmtState, m *model, row map[string]any) error {
	tenant := ""
	if m.tenant != nil {
		switch t := row[m.tenant.DBName].(type) {
		case string:
			tenant = t
		case []byte:
			tenant = string(t)
		}
	}
	for _, ef := range m.fields {
		v, ok := row[ef.column]
		if !ok || v == nil {
			continue
		}
		var stored []byte
		switch x := v.(type) {
		case []byte:
			stored = x
		case string:
			stored = []byte(x)
		default:
			return ef.errorf("open", fmt.Errorf("unexpected %T in a map result", v))
		}
		out := reflect.New(ef.f.FieldType).Elem()
		var err error
		if ef.spec.AllowPlaintext && !codec.IsValue(stored) && !codec.IsArmored(stored) {
			err = ef.decode(stored, out)
		} else {
			var key string
			if ef.bound != nil {
				key, err = ef.rowKey(row[ef.bound.DBName])
			}
			if err == nil {
				err = ef.openInto(ctx, p, st, tenant, key, stored, out)
			}
		}
		if err != nil {
			return err
		}
		row[ef.column] = out.Interface()
	}
	return nil
}
