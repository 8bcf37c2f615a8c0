package gormplugin

import (
	"context"
	"fmt"
	"maps"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
)

// writeModel returns the statement's model when a write has encrypted
// fields to seal, nil when there is nothing to do or the model is
// misconfigured (the error is then on db).
func (p *plugin) writeModel(db *gorm.DB, st *stmtState) *model {
	m := p.reg.model(db.Statement.Schema)
	if !m.encrypted() {
		return nil
	}
	if m.err != nil {
		db.AddError(st.report(m.err))
		return nil
	}
	return m
}

// beforeCreate runs just before gorm:create, inside its transaction and
// after the model's BeforeSave/BeforeCreate hooks: for every row it
// resolves the tenant (filling an empty tenant field), seals the
// encrypted fields and fills the blind index columns. A failure, a KMS
// outage while creating a new tenant's key included, stops the statement
// before any SQL is sent.
func (p *plugin) beforeCreate(db *gorm.DB) {
	st := p.begin(db)
	stmt := db.Statement
	if db.Error != nil || stmt.Schema == nil {
		return
	}
	if m := p.reg.model(stmt.Schema); m.err == nil {
		if tenant, ok := st.scopeTenant(m); ok {
			if err := scopeRows(stmt, m, "seal", tenant, true); err != nil {
				db.AddError(st.report(err))
				return
			}
			if err := st.guardUpsert(stmt, m, tenant); err != nil {
				db.AddError(st.report(err))
				return
			}
		}
	}
	m := p.writeModel(db, st)
	if m == nil {
		return
	}
	if err := checkUpsertSet(db, m); err != nil {
		db.AddError(st.report(err))
		return
	}
	if err := indexUpsert(stmt, m); err != nil {
		db.AddError(st.report(err))
		return
	}
	switch stmt.Dest.(type) {
	case map[string]any, *map[string]any, []map[string]any, *[]map[string]any:
		if err := misspelledKeys(m, stmt.Dest); err != nil {
			db.AddError(st.report(err))
			return
		}
		db.AddError(st.report(p.sealCreateMaps(db, st, m)))
		return
	}
	// Seal every row now, so that GORM binds the sealed bytes through the
	// schema copy (clone.go) rather than a serializer per value, and so
	// that any failure stops the statement before its SQL.
	if c := p.reg.clone(stmt.Schema); c != stmt.Schema {
		st.sealed = make(map[uintptr]sealedRow, rowCount(stmt.ReflectValue))
		st.schema = origin(stmt.Schema)
		stmt.Schema = c
	}
	w := &writer{p: p, st: st, m: m, ctx: stmt.Context}
	db.AddError(st.report(eachRow(stmt.ReflectValue, w.createRow)))
}

func rowCount(v reflect.Value) int {
	v = reflect.Indirect(v)
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		return v.Len()
	}
	return 1
}

// afterCreate puts the statement's schema back and gives a map passed to
// Create what GORM wrote into the sealed copy the plugin made of it (the
// primary key).
func (p *plugin) afterCreate(db *gorm.DB) {
	st, ok := db.Statement.Context.Value(p.reg).(*stmtState)
	if !ok || st.p != p {
		return
	}
	if st.schema != nil {
		db.Statement.Schema = st.schema
		st.schema = nil
	}
	st.sealed = nil
	if g := st.upsert; g != nil {
		st.upsert = nil
		if db.Error == nil {
			p.checkUpsert(db, g)
		}
	}
	if st.maps == nil {
		return
	}
	for i, sealed := range st.maps.sealed {
		orig := st.maps.orig[i]
		for k, v := range sealed {
			if _, had := orig[k]; !had && !st.maps.added[k] {
				orig[k] = v
			}
		}
	}
	db.Statement.Dest = st.maps.dest
	st.maps = nil
}

// writer holds what the rows of one write share.
type writer struct {
	p   *plugin
	st  *stmtState
	m   *model
	ctx context.Context
	// bind is where the row keys of bound fields are read (bind.go).
	bind bindSource
}

// tenant resolves a row's tenant and makes sure its key exists (the
// statement caches it).
func (w *writer) tenant(rowTenant string) (string, error) {
	tenant, err := w.st.resolve(w.ctx, rowTenant)
	if err != nil {
		return "", w.m.fields[0].errorf("seal", err)
	}
	if _, err := w.st.activeVersion(w.ctx, w.m.fields[0], tenant); err != nil {
		return "", w.m.fields[0].errorf("seal", err)
	}
	return tenant, nil
}

func (w *writer) createRow(row reflect.Value) error {
	m := w.m
	w.bind = bindSource{rows: [2]reflect.Value{row}}
	rowTenant := m.tenantOf(row)
	tenant, err := w.tenant(rowTenant)
	if err != nil {
		return err
	}
	if m.tenant != nil && rowTenant == "" {
		if err := m.setTenant(w.ctx, row, tenant); err != nil {
			return err
		}
	}
	var sealed []any
	if w.st.sealed != nil {
		sealed = make([]any, len(m.fields))
		w.st.sealed[rowKey(row)] = sealedRow{m, sealed}
	}
	for i, ef := range m.fields {
		if ef.bidx == nil && sealed == nil {
			continue
		}
		fv := valueAt(ef.f, row)
		if sealed != nil && fv.IsValid() && fv.Type() == stringType {
			// The common case without boxing or copying the string.
			value, idx, err := w.sealPlaintext(ef, tenant, stringBytes(fv.String()))
			if err != nil {
				return err
			}
			sealed[i] = value
			if ef.bidx != nil {
				if err := ef.bidx.Set(w.ctx, row, idx); err != nil {
					return err
				}
			}
			continue
		}
		var v any
		if fv.IsValid() {
			v = fv.Interface()
		}
		if sealed == nil {
			idx, err := w.blindIndex(ef, tenant, v)
			if err != nil {
				return err
			}
			if err := ef.bidx.Set(w.ctx, row, idx); err != nil {
				return err
			}
			continue
		}
		value, idx, err := w.sealValue(ef, tenant, v)
		if err != nil {
			return err
		}
		sealed[i] = value
		if ef.bidx != nil {
			if err := ef.bidx.Set(w.ctx, row, idx); err != nil {
				return err
			}
		}
	}
	return w.indexRow(row, tenant)
}

// sealedRow is a row's encrypted fields sealed ahead of gorm:create, in
// the order of model.fields.
type sealedRow struct {
	m      *model
	values []any
}

// blindIndex returns the blind index of the plaintext v, nil for NULL.
func (w *writer) blindIndex(ef *encField, tenant string, v any) ([]byte, error) {
	pt, ok, err := encode(v)
	if err != nil {
		return nil, ef.errorf("blind index", err)
	}
	if !ok {
		return nil, nil
	}
	idx, err := w.st.blindIndex(w.ctx, ef, tenant, pt)
	if err != nil {
		return nil, ef.errorf("blind index", err)
	}
	return idx, nil
}

// eachRow calls f for the struct v or each struct of the slice or array
// v, as addressable values.
func eachRow(v reflect.Value, f func(reflect.Value) error) error {
	v = reflect.Indirect(v)
	switch v.Kind() {
	case reflect.Struct:
		return f(v)
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			row := reflect.Indirect(v.Index(i))
			if row.Kind() == reflect.Interface {
				row = reflect.Indirect(row.Elem())
			}
			if row.Kind() != reflect.Struct {
				continue // GORM reports the invalid element
			}
			if err := f(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// createMaps is a Create from maps, sealed into copies: the caller's maps
// are never given ciphertext, and get back the keys GORM adds.
type createMaps struct {
	dest   any // the statement's Dest as the caller gave it
	orig   []map[string]any
	sealed []map[string]any
	added  map[string]bool
}

// misspelledKeys refuses a Create from maps whose keys name a guarded
// column otherwise than by its column or Go field name (model.misspelled).
func misspelledKeys(m *model, dest any) error {
	var rows []map[string]any
	switch d := dest.(type) {
	case map[string]any:
		rows = []map[string]any{d}
	case *map[string]any:
		rows = []map[string]any{*d}
	case []map[string]any:
		rows = d
	case *[]map[string]any:
		rows = *d
	}
	for _, row := range rows {
		for k := range row {
			if f := m.misspelled(k, false, true); f != nil {
				return m.misspelledError("seal", k, f)
			}
		}
	}
	return nil
}

func (p *plugin) sealCreateMaps(db *gorm.DB, st *stmtState, m *model) error {
	stmt := db.Statement
	cm := &createMaps{dest: stmt.Dest, added: make(map[string]bool)}
	switch d := stmt.Dest.(type) {
	case map[string]any:
		cm.orig = []map[string]any{d}
	case *map[string]any:
		cm.orig = []map[string]any{*d}
	case []map[string]any:
		cm.orig = d
	case *[]map[string]any:
		cm.orig = *d
	}
	w := &writer{p: p, st: st, m: m, ctx: stmt.Context}
	for _, src := range cm.orig {
		out, err := w.sealMap(src, cm.added)
		if err != nil {
			return err
		}
		cm.sealed = append(cm.sealed, out)
	}
	switch stmt.Dest.(type) {
	case map[string]any, *map[string]any:
		stmt.Dest = cm.sealed[0]
	default:
		stmt.Dest = cm.sealed
	}
	st.maps = cm
	return nil
}

func (w *writer) sealMap(src map[string]any, added map[string]bool) (map[string]any, error) {
	m := w.m
	out := maps.Clone(src)
	rowTenant := ""
	if m.tenant != nil {
		for _, k := range []string{m.tenant.Name, m.tenant.DBName} {
			if s, ok := src[k].(string); ok && s != "" {
				rowTenant = s
			}
		}
	}
	tenant, err := w.tenant(rowTenant)
	if err != nil {
		return nil, err
	}
	w.bind = bindSource{m: src}
	if m.tenant != nil && rowTenant == "" {
		out[m.tenant.DBName] = tenant
		added[m.tenant.DBName] = true
	}
	for k, v := range src {
		ef := m.byField[m.schema.LookUpField(k)]
		if ef == nil {
			continue
		}
		if err := checkAssignable(ef, v); err != nil {
			return nil, err
		}
		sealed, idx, err := w.sealValue(ef, tenant, v)
		if err != nil {
			return nil, err
		}
		out[k] = sealed
		if ef.bidx != nil {
			delete(out, ef.bidx.Name)
			out[ef.bidx.DBName] = idx
			added[ef.bidx.DBName] = true
		}
	}
	if err := w.indexMap(src, out, tenant, added); err != nil {
		return nil, err
	}
	return out, nil
}

// sealValue seals the plaintext v for tenant and computes its blind
// index, if the field has one. A NULL v gives NULL for both.
func (w *writer) sealValue(ef *encField, tenant string, v any) (sealed any, idx []byte, err error) {
	pt, ok, err := encode(v)
	if err != nil {
		return nil, nil, ef.errorf("seal", err)
	}
	if !ok {
		if ef.spec.NotNull {
			return nil, nil, ef.errorf("seal", field.ErrNull)
		}
		return nil, nil, nil
	}
	return w.sealPlaintext(ef, tenant, pt)
}

// sealPlaintext is sealValue for plaintext bytes; it only reads pt.
func (w *writer) sealPlaintext(ef *encField, tenant string, pt []byte) (sealed any, idx []byte, err error) {
	key, err := w.bind.key(ef)
	if err != nil {
		return nil, nil, ef.errorf("seal", err)
	}
	if sealed, err = ef.seal(w.ctx, w.p, w.st, tenant, key, pt); err != nil {
		return nil, nil, err
	}
	if ef.bidx != nil {
		if idx, err = w.st.blindIndex(w.ctx, ef, tenant, pt); err != nil {
			return nil, nil, ef.errorf("blind index", err)
		}
	}
	return sealed, idx, nil
}

// checkAssignable refuses SQL expressions for an encrypted column: what
// the database computes, colcrypt cannot encrypt.
func checkAssignable(ef *encField, v any) error {
	expr := false
	switch x := v.(type) {
	case clause.Expression, *gorm.DB:
		expr = true
	case []any: // GORM wraps a subquery so
		if len(x) == 1 {
			_, expr = x[0].(*gorm.DB)
		}
	}
	if expr {
		return ef.errorf("update", fmt.Errorf("%w: an SQL expression cannot be encrypted; assign a Go value", ErrUnsupported))
	}
	return nil
}

// beforeUpdate runs just before gorm:update. GORM would bind a map's
// values as they are, plaintext, so the plugin builds the SET clause
// itself (with GORM's own ConvertToAssignments, which also updates the
// model as GORM does) and replaces every encrypted column's value with
// its sealed form, under the tenant of the rows being updated, adding
// the blind index columns. With a tenant field, the UPDATE is limited to
// that tenant's rows, so a value is never written into another tenant's
// row, where it could not be opened. Under a context tenant every UPDATE
// of a model with a tenant field is scoped (scope.go), whichever columns
// it sets.
func (p *plugin) beforeUpdate(db *gorm.DB) {
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
	if err := st.scopeWrite(stmt, m, "update", true); err != nil {
		db.AddError(st.report(err))
		return
	}
	if err := st.rewriteConds(db, m, true); err != nil {
		db.AddError(st.report(err))
		return
	}
	tenant, scoped := st.scopeTenant(m)
	if len(m.fields) == 0 && !scoped {
		return
	}
	var set clause.Set
	given := false
	if c, ok := stmt.Clauses["SET"]; ok {
		set, given = c.Expression.(clause.Set)
		if !given {
			return
		}
		set = append(clause.Set(nil), set...)
	} else {
		set = callbacks.ConvertToAssignments(stmt)
		if db.Error != nil || len(set) == 0 {
			return // gorm:update builds (nothing) itself
		}
	}
	for _, a := range set {
		// A SET clause given by hand is written as it is, Go field names
		// included; GORM's own has translated them.
		if f := m.misspelled(a.Column.Name, a.Column.Raw, false); f != nil {
			db.AddError(st.report(m.misspelledError("update", a.Column.Name, f)))
			return
		}
	}
	if scoped {
		if err := scopeAssignments(set, m, tenant); err != nil {
			db.AddError(st.report(err))
			return
		}
		// ConvertToAssignments added the rows' primary keys, if any.
		st.limitToTenant(stmt, m, tenant, false)
	}
	if err := p.sealAssignments(stmt, st, m, &set, given); err != nil {
		db.AddError(st.report(err))
		return
	}
	stmt.AddClause(set)
	st.setByPlugin = !given
}

// afterUpdate removes the SET clause the plugin added, as gorm:update
// does with its own, so a reused statement builds a fresh one, and puts
// back the conditions rewrite.go replaced.
func (p *plugin) afterUpdate(db *gorm.DB) {
	st, ok := db.Statement.Context.Value(p.reg).(*stmtState)
	if !ok || st.p != p {
		return
	}
	if st.setByPlugin {
		delete(db.Statement.Clauses, "SET")
		st.setByPlugin = false
	}
	st.restoreWhere(db.Statement)
}

func (p *plugin) sealAssignments(stmt *gorm.Statement, st *stmtState, m *model, set *clause.Set, given bool) error {
	ctx := stmt.Context
	touched := false
	for _, a := range *set {
		if m.byColumn[a.Column.Name] != nil {
			touched = true
			break
		}
	}
	if !touched {
		return nil
	}

	// The value GORM took for a struct field is its serializer wrapper;
	// read the plaintext from the struct instead.
	updating := reflect.ValueOf(stmt.Dest)
	for updating.Kind() == reflect.Pointer {
		updating = updating.Elem()
	}
	var us *schema.Schema
	if !given && updating.Kind() == reflect.Struct {
		if updating.Type() == stmt.Schema.ModelType {
			us = stmt.Schema
		} else {
			s := &gorm.Statement{DB: stmt.DB}
			if err := s.Parse(stmt.Dest); err == nil {
				us = s.Schema
			}
		}
	}

	// One tenant for the whole statement: the model rows', the updating
	// struct's, the tenant column assigned; else the context's or fixed.
	tenants := map[string]bool{}
	if m.tenant != nil {
		eachRow(stmt.ReflectValue, func(row reflect.Value) error {
			if t := m.tenantOf(row); t != "" {
				tenants[t] = true
			}
			return nil
		})
		if us != nil {
			if tf := us.LookUpField(m.tenant.DBName); tf != nil {
				if tv := valueAt(tf, updating); tv.IsValid() && tv.Kind() == reflect.String && tv.String() != "" {
					tenants[tv.String()] = true
				}
			}
		}
		for _, a := range *set {
			if a.Column.Name == m.tenant.DBName {
				if s, ok := a.Value.(string); ok && s != "" {
					tenants[s] = true
				}
			}
		}
	}
	if len(tenants) > 1 {
		return m.fields[0].errorf("update", ErrManyTenants)
	}
	rowTenant := ""
	for t := range tenants {
		rowTenant = t
	}
	w := &writer{p: p, st: st, m: m, ctx: ctx}
	tenant, err := w.tenant(rowTenant)
	if err != nil {
		return err
	}
	if w.bind, err = updateBinds(stmt, m, *set, updating, us); err != nil {
		return err
	}

	var plain map[*encField]any // the plaintexts the named indexes read
	if len(m.indexes) > 0 {
		plain = make(map[*encField]any)
	}
	for i := 0; i < len(*set); i++ {
		a := (*set)[i]
		ef := m.byColumn[a.Column.Name]
		if ef == nil {
			continue
		}
		v := a.Value
		if us != nil {
			if uf := us.LookUpField(ef.column); uf != nil {
				v = nil
				if fv := valueAt(uf, updating); fv.IsValid() {
					v = fv.Interface()
				}
			}
		}
		if err := checkAssignable(ef, v); err != nil {
			return err
		}
		sealed, idx, err := w.sealValue(ef, tenant, v)
		if err != nil {
			return err
		}
		(*set)[i].Value = sealed
		if plain != nil {
			plain[ef] = v
		}
		if ef.bidx == nil {
			continue
		}
		assignColumn(set, ef.bidx.DBName, idx)
		eachRow(stmt.ReflectValue, func(row reflect.Value) error {
			if row.CanAddr() {
				ef.bidx.Set(ctx, row, idx)
			}
			return nil
		})
	}
	if err := w.indexAssignments(set, plain, tenant, stmt.ReflectValue); err != nil {
		return err
	}
	if m.tenant != nil && !st.scoped {
		stmt.AddClause(clause.Where{Exprs: []clause.Expression{
			clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: m.tenant.DBName}, Value: tenant},
		}})
		st.scoped = true
	}
	return nil
}

// assignColumn sets column to v in set, adding the assignment if absent.
func assignColumn(set *clause.Set, column string, v any) {
	for i := range *set {
		if (*set)[i].Column.Name == column {
			(*set)[i].Value = v
			return
		}
	}
	*set = append(*set, clause.Assignment{Column: clause.Column{Name: column}, Value: v})
}
