package gormplugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Named and compound indexes. A []byte field tagged index:<name> holds a
// blind index over one or more encrypted fields of the same model
// (parts:SSN/last4+Zip): the plugin computes it in every write that
// gives all of its parts, from the plaintexts it seals, and Match finds
// rows by it. Each index is keyed by its name (fieldcore.Index), so it
// shares no key with another index or with a field's own blind index.

// idxField is one named index of a model.
type idxField struct {
	m     *model
	f     *schema.Field // the []byte column that holds the index
	ix    *fieldcore.Index
	parts []*encField // the encrypted field of each part, in order
}

func (x *idxField) errorf(op string, err error) error {
	return &FieldError{Op: op, Model: x.m.name, Field: x.f.Name, Table: x.m.schema.Table, Column: x.f.DBName, Err: err}
}

// partNames lists the Go fields an index reads, for messages.
func (x *idxField) partNames() string {
	names := make([]string, len(x.parts))
	for i, ef := range x.parts {
		names[i] = ef.f.Name
	}
	return strings.Join(names, ", ")
}

// checkIndexField checks the field f tagged with an index, before the
// model's encrypted fields are known.
func checkIndexField(f *schema.Field, ours bool) error {
	switch {
	case ours:
		return errors.New("an index column holds a keyed hash, not a value: drop the colcrypt serializer from it")
	case f.FieldType.Kind() != reflect.Slice || f.FieldType.Elem().Kind() != reflect.Uint8:
		return fmt.Errorf("an index field must be []byte, not %v", f.FieldType)
	}
	return nil
}

// resolveIndexes ties each index of m to the encrypted fields its parts
// name, once every field of the model is known. A part must be an
// encrypted field: an index over plaintext columns would only hide what
// the table shows anyway. An index name must be unique in the model and
// must not be an encrypted column's name, whose blind-index key it would
// share, nor another field's name or column, which Match would confuse
// with it.
func resolveIndexes(m *model, s *schema.Schema, found map[*schema.Field]*fieldcore.Index, order []*schema.Field, fail func(*schema.Field, error)) {
	for _, f := range order {
		ix := found[f]
		x := &idxField{m: m, f: f, ix: ix}
		ok := true
		for _, p := range ix.Parts {
			pf := s.LookUpField(p.Source)
			ef := m.byField[pf]
			if pf == nil || ef == nil {
				fail(f, fmt.Errorf("index %s: part %s is not an encrypted field of %s", ix.Name, p.Source, s.Name))
				ok = false
				break
			}
			x.parts = append(x.parts, ef)
		}
		if !ok {
			continue
		}
		if ef := m.byColumn[ix.Name]; ef != nil {
			fail(f, fmt.Errorf("index %s is named like the encrypted column %s: name it apart (its key is chosen by its name)", ix.Name, ef.column))
			continue
		}
		if pf := s.LookUpField(ix.Name); pf != nil && pf != f {
			fail(f, fmt.Errorf("index %s is named like the field %s: Match could not tell them apart (the index's own column may share its name)", ix.Name, pf.Name))
			continue
		}
		if prev := m.byIndex[ix.Name]; prev != nil {
			fail(f, fmt.Errorf("index %s is also declared on %s", ix.Name, prev.f.Name))
			continue
		}
		for _, ef := range m.fields {
			if ef.bidx == f {
				fail(f, fmt.Errorf("index %s is stored in the column of %s's blind index", ix.Name, ef.f.Name))
				ok = false
			}
		}
		if !ok {
			continue
		}
		m.indexes = append(m.indexes, x)
		m.byIndex[ix.Name] = x
	}
}

// indexHandle returns the statement's handle of x's key for tenant.
func (st *stmtState) indexHandle(ctx context.Context, x *idxField, tenant string) (*fieldcore.Handle, error) {
	k := handleKey{idx: x, tenant: tenant}
	h, ok := st.handles[k]
	if !ok {
		var err error
		if h, err = st.p.enc.Handle(ctx, x.ix.Scope(tenant, x.m.schema.Table)); err != nil {
			return nil, err
		}
		if st.handles == nil {
			st.handles = make(map[handleKey]*fieldcore.Handle)
		}
		st.handles[k] = h
	}
	return h, nil
}

// compute returns x over the plaintexts of its parts (nil for NULL: an
// index over a NULL part is NULL).
func (w *writer) computeIndex(x *idxField, tenant string, values [][]byte) ([]byte, error) {
	for _, v := range values {
		if v == nil {
			return nil, nil
		}
	}
	h, err := w.st.indexHandle(w.ctx, x, tenant)
	if err != nil {
		return nil, x.errorf("index", err)
	}
	v, err := h.Index(w.ctx, x.ix, values)
	if err != nil {
		return nil, x.errorf("index", err)
	}
	return v, nil
}

// plaintextOf encodes the plaintext v of a part; nil for NULL.
func plaintextOf(x *idxField, v any) ([]byte, error) {
	pt, ok, err := encode(v)
	if err != nil {
		return nil, x.errorf("index", err)
	}
	if !ok {
		return nil, nil
	}
	if pt == nil {
		pt = []byte{} // empty, not NULL
	}
	return pt, nil
}

// indexRow fills every index column of the struct row from its fields.
func (w *writer) indexRow(row reflect.Value, tenant string) error {
	for _, x := range w.m.indexes {
		values := make([][]byte, len(x.parts))
		for i, ef := range x.parts {
			var v any
			if fv := valueAt(ef.f, row); fv.IsValid() {
				v = fv.Interface()
			}
			pt, err := plaintextOf(x, v)
			if err != nil {
				return err
			}
			values[i] = pt
		}
		idx, err := w.computeIndex(x, tenant, values)
		if err != nil {
			return err
		}
		if err := x.f.Set(w.ctx, row, idx); err != nil {
			return err
		}
	}
	return nil
}

// indexMap fills the index columns of a Create from the map src into
// out: a part the map leaves out is inserted as NULL, so the index is
// NULL too.
func (w *writer) indexMap(src, out map[string]any, tenant string, added map[string]bool) error {
	for _, x := range w.m.indexes {
		values := make([][]byte, len(x.parts))
		given := false
		for i, ef := range x.parts {
			v, ok := src[ef.f.Name]
			if !ok {
				v, ok = src[ef.column]
			}
			if !ok {
				continue // NULL
			}
			given = true
			pt, err := plaintextOf(x, v)
			if err != nil {
				return err
			}
			values[i] = pt
		}
		if !given {
			continue
		}
		idx, err := w.computeIndex(x, tenant, values)
		if err != nil {
			return err
		}
		delete(out, x.f.Name)
		out[x.f.DBName] = idx
		added[x.f.DBName] = true
	}
	return nil
}

// indexAssignments adds to an UPDATE's SET the index columns whose parts
// it assigns. plain holds the plaintext assigned to each encrypted field
// the SET names. An index needs all of its parts: an UPDATE that sets
// some but not all of them is refused, since the others' plaintexts are
// only in the database, encrypted, and the index would go stale.
func (w *writer) indexAssignments(set *clause.Set, plain map[*encField]any, tenant string, rows reflect.Value) error {
	for _, x := range w.m.indexes {
		values := make([][]byte, len(x.parts))
		n := 0
		for i, ef := range x.parts {
			v, ok := plain[ef]
			if !ok {
				continue
			}
			n++
			pt, err := plaintextOf(x, v)
			if err != nil {
				return err
			}
			values[i] = pt
		}
		switch {
		case n == 0:
			continue
		case n < len(x.parts):
			return x.errorf("update", fmt.Errorf("%w: index %s is computed from %s: an update that sets one of them must set all of them (Save the row, or Updates with every part)", ErrUnsupported, x.ix.Name, x.partNames()))
		}
		idx, err := w.computeIndex(x, tenant, values)
		if err != nil {
			return err
		}
		assignColumn(set, x.f.DBName, idx)
		eachRow(rows, func(row reflect.Value) error {
			if row.CanAddr() {
				x.f.Set(w.ctx, row, idx)
			}
			return nil
		})
	}
	return nil
}

// indexConds is Match by an index name: the rows whose index x equals
// the index of values, one per part in order, under any live key version
// of the tenant.
func indexConds(ctx context.Context, p *plugin, m *model, x *idxField, values []any) ([]clause.Expression, error) {
	if len(values) != len(x.parts) {
		return nil, x.errorf("match", fmt.Errorf("%w: index %s takes %d values (%s), got %d", ErrNotMatchable, x.ix.Name, len(x.parts), x.partNames(), len(values)))
	}
	tenant, err := p.enc.ResolveTenant(ctx, "")
	if err != nil {
		return nil, x.errorf("match", err)
	}
	var conds []clause.Expression
	if m.tenant != nil {
		conds = append(conds, clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: m.tenant.DBName}, Value: tenant})
	}
	pts := make([][]byte, len(values))
	for i, v := range values {
		pt, err := plaintextOf(x, v)
		if err != nil {
			return nil, err
		}
		if pt == nil {
			return nil, x.errorf("match", fmt.Errorf("%w: value %d (%s) is NULL, and an index over a NULL part is NULL", ErrNotMatchable, i+1, x.parts[i].f.Name))
		}
		pts[i] = pt
	}
	candidates, err := p.enc.IndexCandidates(ctx, tenant, m.schema.Table, x.ix, pts)
	if err != nil {
		return nil, x.errorf("match", err)
	}
	in := make([]any, len(candidates))
	for i, c := range candidates {
		in[i] = c
	}
	// No candidates (a tenant without keys) builds IN (NULL): no row.
	col := clause.Column{Table: clause.CurrentTable, Name: x.f.DBName}
	return append(conds, matched{clause.IN{Column: col, Values: in}, tenant}), nil
}

// indexUpsert keeps an ON CONFLICT DO UPDATE of chosen columns
// (clause.AssignmentColumns) in step with the named indexes: one that
// updates every part of an index from the inserted row updates the
// index column too, added if the statement left it out; one that updates
// only some parts, or a part from anything but the inserted row, is
// refused before any SQL, since the index would then describe values the
// row does not hold. UpdateAll updates every column, indexes included.
func indexUpsert(stmt *gorm.Statement, m *model) error {
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok || len(m.indexes) == 0 {
		return nil
	}
	oc, ok := c.Expression.(clause.OnConflict)
	if !ok || oc.DoNothing || oc.UpdateAll || len(oc.DoUpdates) == 0 {
		return nil
	}
	fromRow := map[string]bool{}
	assigned := map[string]bool{}
	for _, a := range oc.DoUpdates {
		assigned[a.Column.Name] = true
		if col, ok := a.Value.(clause.Column); ok && col.Table == "excluded" && col.Name == a.Column.Name {
			fromRow[a.Column.Name] = true
		}
	}
	var add []string
	for _, x := range m.indexes {
		n := 0
		for _, ef := range x.parts {
			if fromRow[ef.column] {
				n++
			} else if assigned[ef.column] {
				n = -1
				break
			}
		}
		switch {
		case n == 0:
			continue
		case n < len(x.parts):
			return x.errorf("upsert", fmt.Errorf("%w: index %s is computed from %s: an upsert that updates one of them must update all of them from the inserted row", ErrUnsupported, x.ix.Name, x.partNames()))
		}
		if !assigned[x.f.DBName] {
			add = append(add, x.f.DBName)
		}
	}
	if len(add) > 0 {
		oc.DoUpdates = append(append(clause.Set(nil), oc.DoUpdates...), clause.AssignmentColumns(add)...)
		stmt.AddClause(oc)
	}
	return nil
}
