package gormplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Row binding (`colcrypt:"bind:<Field>"`).
//
// A bound field's values carry the row key, the value of another field of
// the same row, in their associated data (fieldcore.RowKey). Sealing reads it
// from the row being written. Opening needs it as much as the row's
// tenant, and GORM may set it after the encrypted column (SELECT order):
// a followed query parks the value until both are known, the bound field
// being followed like the tenant field (clone.go, followBind). A bound
// field that is empty at seal time is an error, never an unbound seal.

// boundField checks the bind:<Field> option of the encrypted field f of s
// and returns the field it names.
func boundField(s *schema.Schema, f *schema.Field, name string) (*schema.Field, error) {
	bf := s.LookUpField(name)
	switch {
	case bf == nil || bf.DBName == "" || bf.Name != name:
		return nil, fmt.Errorf("bind:%s names no field with a column in %s", name, s.Name)
	case bf == f:
		return nil, fmt.Errorf("bind:%s names the encrypted field itself", name)
	}
	if tag, ok := bf.Tag.Lookup(fieldcore.TagName); ok {
		if spec, err := fieldcore.ParseTag(s.Name+"."+bf.Name, tag); err == nil && spec.Tenant {
			return nil, fmt.Errorf("bind:%s names the tenant field, which every value is bound to already", name)
		}
	}
	if bs, ok := bf.Serializer.(serializer); ok && bs.reg != nil {
		return nil, fmt.Errorf("bind:%s names an encrypted field: the row key must be stored in the clear", name)
	}
	if err := fieldcore.CheckRowKeyType(bf.FieldType); err != nil {
		return nil, fmt.Errorf("bind:%s is of type %v: %w", name, bf.FieldType, err)
	}
	return bf, nil
}

// bindOf returns the row key of ef in row, "" for a field that is not
// bound. A bound field that is empty or zero is a *fieldcore.RowKeyError
// matching field.ErrNoRowKey.
func (ef *encField) bindOf(row reflect.Value) (string, error) {
	if ef.bound == nil {
		return "", nil
	}
	var v any
	if fv := valueAt(ef.bound, row); fv.IsValid() {
		v = fv.Interface()
	}
	return ef.rowKey(v)
}

// rowKey is fieldcore.RowKey of the bound field's value v.
func (ef *encField) rowKey(v any) (string, error) {
	key, err := fieldcore.RowKey(v)
	if err != nil {
		return "", &fieldcore.RowKeyError{Table: ef.table, Column: ef.column, Field: ef.bound.Name, Err: err}
	}
	return key, nil
}

// hasRowKey reports whether row has what ef needs beside its tenant.
func (ef *encField) hasRowKey(row reflect.Value) bool {
	_, err := ef.bindOf(row)
	return err == nil
}

// scanBound is encField.scan for a bound field: it opens the value when
// the row's key and tenant are known, and parks it otherwise.
func (ef *encField) scanBound(ctx context.Context, p *plugin, st *stmtState, row, rv reflect.Value, stored []byte) error {
	m := ef.m
	key, kerr := ef.bindOf(row)
	t := m.tenantOf(row)
	if kerr == nil && (m.tenant == nil || t != "") {
		return ef.openInto(ctx, p, st, t, key, stored, rv)
	}
	if st == nil || !st.query {
		// No hook tells when the rest of the row arrives.
		if kerr != nil {
			return ef.errorf("open", fmt.Errorf("%w (in Raw, Rows and Scan the column %s must come before %s)", kerr, ef.bound.DBName, ef.column))
		}
		err := ef.openInto(ctx, p, st, "", key, stored, rv)
		if errors.Is(err, field.ErrNoTenant) {
			err = ef.errorf("open", fmt.Errorf("%w (in Raw, Rows and Scan a tenant column must come before the encrypted columns)", field.ErrNoTenant))
		}
		return err
	}
	e := pending{ef: ef, row: row, key: rowKey(row), stored: bytes.Clone(stored)}
	if kerr == nil {
		st.guessBound(ctx, &e, key, rv)
		if e.opened && st.hasCtxTenant {
			return nil
		}
	}
	st.pending = append(st.pending, e)
	return nil
}

// guessBound opens the parked bound value e, whose row key is known, under
// the context's or fixed tenant, as scan does for an unbound value whose
// tenant column comes later.
func (st *stmtState) guessBound(ctx context.Context, e *pending, key string, rv reflect.Value) {
	guess, err := st.resolve(ctx, "")
	if err != nil {
		e.err = err
		return
	}
	e.guess = guess
	if err := e.ef.openInto(ctx, st.p, st, guess, key, e.stored, rv); err != nil {
		e.err = err
		return
	}
	e.opened = true
}

// settleBound is settle for a bound value: it opens it under the row's
// tenant t and the row's key, now both known.
func (st *stmtState) settleBound(ctx context.Context, e pending, t string) error {
	tenant, err := st.p.enc.ResolveTenant(ctx, t)
	if err != nil {
		return e.ef.errorf("open", err)
	}
	if e.guess != "" && tenant == e.guess {
		return e.err
	}
	key, err := e.ef.bindOf(e.row)
	if err != nil {
		return e.ef.errorf("open", fmt.Errorf("%w (select the column %s with %s)", err, e.ef.bound.DBName, e.ef.column))
	}
	rv := e.ef.f.ReflectValueOf(ctx, e.row)
	if err := e.ef.openInto(ctx, st.p, st, tenant, key, e.stored, rv); err != nil {
		rv.Set(reflect.Zero(rv.Type()))
		return err
	}
	return nil
}

// leftoverBound is leftovers for a bound value: one opened under a guess
// must have guessed the row's tenant. One never opened is an error, never
// opened now: the row it points to may be a copy GORM has already
// appended to the result (a scan the plugin could not follow), and a
// value left zero in the result must not pass for a read one.
func (st *stmtState) leftoverBound(ctx context.Context, e pending) error {
	if !e.opened {
		if _, err := e.ef.bindOf(e.row); err != nil {
			return e.ef.errorf("open", fmt.Errorf("%w (select the column %s with %s)", err, e.ef.bound.DBName, e.ef.column))
		}
		if e.err != nil {
			return e.ef.errorf("open", e.err)
		}
		return e.ef.errorf("open", fmt.Errorf("%w: the column %s was read after %s; select it first", field.ErrNoRowKey, e.ef.bound.DBName, e.ef.column))
	}
	tenant, err := st.p.enc.ResolveTenant(ctx, e.ef.m.tenantOf(e.row))
	switch {
	case err != nil:
		return e.ef.errorf("open", err)
	case tenant != e.guess:
		return e.ef.errorf("open", ErrTenantOrder)
	}
	return nil
}

// bindRead runs after the bound field bf of m was set in row during a
// followed scan: the row's values bound to it and parked are opened if
// the row's tenant is known, or under the context's or fixed tenant
// until it is.
func (st *stmtState) bindRead(ctx context.Context, m *model, bf *schema.Field, row reflect.Value) error {
	if len(st.pending) == 0 {
		return nil
	}
	key := rowKey(row)
	t := m.tenantOf(row)
	var first error
	kept := st.pending[:0]
	for _, e := range st.pending {
		if e.key != key || e.ef.m != m || e.ef.bound != bf || e.opened {
			kept = append(kept, e)
			continue
		}
		if m.tenant == nil || t != "" {
			if err := st.settleBound(ctx, e, t); err != nil && first == nil {
				first = err
			}
			continue
		}
		k, err := e.ef.bindOf(row)
		if err != nil {
			kept = append(kept, e) // still empty: leftovers reports it
			continue
		}
		st.guessBound(ctx, &e, k, e.ef.f.ReflectValueOf(ctx, row))
		if !e.opened || !st.hasCtxTenant {
			kept = append(kept, e)
		}
	}
	clear(st.pending[len(kept):])
	st.pending = kept
	return st.report(first)
}

// followBind returns a copy of the bound field bf of m whose Set, in a
// followed query, opens the values of the row parked before it.
func followBind(r *nameReg, m *model, bf *schema.Field) *schema.Field {
	cf := new(schema.Field)
	*cf = *bf
	set := bf.Set
	cf.Set = func(ctx context.Context, row reflect.Value, v any) error {
		if err := set(ctx, row, v); err != nil {
			return err
		}
		if st, ok := ctx.Value(r).(*stmtState); ok && st.query {
			return st.bindRead(ctx, m, bf, row)
		}
		return nil
	}
	return cf
}

// bindSource is where a write finds the row keys of bound fields: the
// row being created, a map being created, or an update's assignments
// and the struct or model row they come from.
type bindSource struct {
	rows [2]reflect.Value // structs of the model, the first with a key wins
	m    map[string]any
	set  clause.Set
}

// key returns ef's row key from the source, "" for an unbound field.
func (b bindSource) key(ef *encField) (string, error) {
	if ef.bound == nil {
		return "", nil
	}
	for _, a := range b.set {
		if a.Column.Name == ef.bound.DBName {
			return ef.rowKey(a.Value)
		}
	}
	if b.m != nil {
		for _, k := range []string{ef.bound.Name, ef.bound.DBName} {
			if v, ok := b.m[k]; ok {
				return ef.rowKey(v)
			}
		}
		return ef.rowKey(nil)
	}
	key, _, err := b.fromRows(ef)
	return key, err
}

// fromRows returns ef's row key from the first of b.rows that has one,
// and that row.
func (b bindSource) fromRows(ef *encField) (string, reflect.Value, error) {
	err := error(&fieldcore.RowKeyError{Table: ef.table, Column: ef.column, Field: ef.bound.Name, Err: field.ErrNoRowKey})
	for _, row := range b.rows {
		if !row.IsValid() {
			continue
		}
		var key string
		if key, err = ef.bindOf(row); err == nil {
			return key, row, nil
		}
	}
	return "", reflect.Value{}, err
}

// updateBinds returns where an update finds the row keys of the bound
// fields it assigns: the SET clause, then the updating struct, then the
// one model row being updated. An update of a bound field without a row
// key, or over several model rows, fails before any SQL; one whose key
// comes from the model row is limited to the rows with that key, so a
// value sealed for one row is never written into another.
func updateBinds(stmt *gorm.Statement, m *model, set clause.Set, updating reflect.Value, us *schema.Schema) (bindSource, error) {
	b := bindSource{set: set}
	need := false
	for _, a := range set {
		if ef := m.byColumn[a.Column.Name]; ef != nil && ef.bound != nil {
			need = true
		}
	}
	if !need {
		return b, nil
	}
	if us == stmt.Schema && updating.Kind() == reflect.Struct {
		b.rows[0] = updating
	}
	if rv := reflect.Indirect(stmt.ReflectValue); rv.Kind() == reflect.Struct {
		b.rows[1] = rv
	}
	limited := map[*schema.Field]bool{}
	for _, a := range set {
		ef := m.byColumn[a.Column.Name]
		if ef == nil || ef.bound == nil {
			continue
		}
		_, err := b.key(ef)
		if err != nil {
			return b, ef.errorf("update", fmt.Errorf("%w (update a bound field through its row, with %s set)", err, ef.bound.Name))
		}
		assigned := false
		for _, a := range set {
			assigned = assigned || a.Column.Name == ef.bound.DBName
		}
		if !assigned && !limited[ef.bound] {
			// The row's own value, bound as GORM binds the field.
			limited[ef.bound] = true
			_, row, _ := b.fromRows(ef)
			v, _ := ef.bound.ValueOf(stmt.Context, row)
			stmt.AddClause(clause.Where{Exprs: []clause.Expression{
				clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: ef.bound.DBName}, Value: v},
			}})
		}
	}
	return b, nil
}
