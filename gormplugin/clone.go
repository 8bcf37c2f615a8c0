package gormplugin

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"sync"

	"gorm.io/gorm/schema"
)

// Following a scan.
//
// GORM sets a row's fields in the order of the SELECT's columns, so an
// encrypted column can be read before the tenant column that says which
// key opens it. A query with a tenant in its context opens the value at
// once (no other tenant can succeed); otherwise the value is parked and
// must be opened once the tenant field is set, while the row is still the
// struct GORM scans into (a []T result copies it right after).
//
// GORM has no hook for "a field was set", and its cached *schema.Schema
// is shared by every goroutine, so the plugin never modifies it. Instead,
// for the duration of gorm:query, the statement's schema is replaced by a
// copy in which the tenant field of every model with encrypted fields is
// a copy whose Set tells the statement the tenant has arrived
// (stmtState.tenantRead). Relations are copied the same way, so Joins are
// followed too. Copies are built once per schema and never change.
//
// The copy's encrypted fields pass values straight between GORM and the
// plugin (direct), past GORM's serializer wrapper: a Find of 10,000 rows
// with two encrypted columns then allocates as much as its plaintext
// twin. gorm:create uses the copy too.
//
// What this cannot follow (Raw/Rows scans, which parse their destination
// after the plugin's last callback; Find into a type other than the
// Model, which GORM parses during the scan) is detected after the scan
// and reported as ErrTenantOrder, never left silently zero or wrong.

// origins maps every schema copy, of any plugin, to the schema GORM
// parsed: with two plugins (two serializer names) on one *gorm.DB the
// second copies the first's copy, and both must put GORM's schema back.
var origins sync.Map // *schema.Schema → *schema.Schema

// origin returns the schema GORM parsed that s is, or is a copy of.
func origin(s *schema.Schema) *schema.Schema {
	if o, ok := origins.Load(s); ok {
		return o.(*schema.Schema)
	}
	return s
}

// clone returns the copy of s to scan with, or s itself when no model
// reachable from s has encrypted fields.
func (r *nameReg) clone(s *schema.Schema) *schema.Schema {
	if v, ok := r.clones.Load(s); ok {
		return v.(*schema.Schema)
	}
	c := r.buildClone(s, map[*schema.Schema]*schema.Schema{})
	v, _ := r.clones.LoadOrStore(s, c)
	return v.(*schema.Schema)
}

func (r *nameReg) buildClone(s *schema.Schema, memo map[*schema.Schema]*schema.Schema) *schema.Schema {
	if c, ok := memo[s]; ok {
		return c // done, or in progress on a cycle
	}
	c := new(schema.Schema)
	// GORM adds relations to a cached schema when it parses a related
	// one, under Relationships.Mux: copy and list them under it, and
	// recurse after letting go (GORM locks two schemas at a time).
	s.Relationships.Mux.RLock()
	reflect.ValueOf(c).Elem().Set(reflect.ValueOf(s).Elem()) // a reflect copy: Schema holds the mutex
	relations := maps.Clone(s.Relationships.Relations)
	s.Relationships.Mux.RUnlock()
	c.Relationships.Mux = sync.RWMutex{}
	memo[s] = c
	changed := false

	if m := r.model(s); m.err == nil && len(m.fields) > 0 {
		repl := make(map[*schema.Field]*schema.Field, len(m.fields)+1)
		if m.tenant != nil {
			repl[m.tenant] = followTenant(r, m)
		}
		for i, ef := range m.fields {
			repl[ef.f] = direct(r, ef, i)
			if ef.bound != nil && repl[ef.bound] == nil {
				repl[ef.bound] = followBind(r, m, ef.bound)
			}
		}
		c.Fields = slices.Clone(s.Fields)
		for i, f := range c.Fields {
			if rf, ok := repl[f]; ok {
				c.Fields[i] = rf
			}
		}
		c.FieldsByName = replaced(s.FieldsByName, repl)
		c.FieldsByDBName = replaced(s.FieldsByDBName, repl)
		c.FieldsByBindName = replaced(s.FieldsByBindName, repl)
		changed = true
	}

	relsChanged := false
	for name, rel := range relations {
		if rel.FieldSchema == nil {
			continue
		}
		fc := r.buildClone(rel.FieldSchema, memo)
		if fc == rel.FieldSchema {
			continue
		}
		rc := *rel
		rc.FieldSchema = fc
		relations[name] = &rc
		relsChanged = true
	}
	if !changed && !relsChanged {
		memo[s] = s
		return s
	}
	c.Relationships.Relations = relations
	origins.Store(c, origin(s))
	return c
}

func replaced(m map[string]*schema.Field, repl map[*schema.Field]*schema.Field) map[string]*schema.Field {
	out := maps.Clone(m)
	for k, f := range out {
		if rf, ok := repl[f]; ok {
			out[k] = rf
		}
	}
	return out
}

// direct returns a copy of the i-th encrypted field of its model that
// moves values straight between GORM and the plugin, past GORM's
// serializer wrapper (an allocation and a reflect copy of the serializer
// per value, and pgx's driver.Valuer path):
//
//   - a followed query scans the column into a pooled holder, and Set
//     opens it;
//   - a create binds the bytes beforeCreate sealed for the row, found by
//     the row's address; any other use gets GORM's own ValueOf.
func direct(r *nameReg, ef *encField, i int) *schema.Field {
	f := new(schema.Field)
	*f = *ef.f
	f.NewValuePool = new(rawPool)
	set, valueOf := ef.f.Set, ef.f.ValueOf
	f.Set = func(ctx context.Context, row reflect.Value, v any) error {
		if raw, ok := v.(*rawValue); ok {
			return r.ser.scanDirect(ctx, ef, row, raw.v)
		}
		return set(ctx, row, v)
	}
	f.ValueOf = func(ctx context.Context, row reflect.Value) (any, bool) {
		if st, ok := ctx.Value(r).(*stmtState); ok && st.sealed != nil {
			if s, ok := st.sealed[rowKey(row)]; ok && s.m == ef.m {
				return s.values[i], false
			}
		}
		return valueOf(ctx, row)
	}
	return f
}

// rawValue holds a column's value as the driver gave it, until Set.
type rawValue struct{ v any }

func (r *rawValue) Scan(src any) error {
	r.v = src
	return nil
}

// rawPool is the schema.FieldNewValuePool of a direct field, one per
// field as GORM has: GORM takes a holder for every column of a row before
// it puts any back, so with one pool for all of them every row after the
// first of each column would go through sync.Pool's shared queue (atomic
// operations) instead of its per-P slot.
type rawPool struct{ p sync.Pool }

func (rp *rawPool) Get() any {
	if r, ok := rp.p.Get().(*rawValue); ok {
		return r
	}
	return new(rawValue)
}

func (rp *rawPool) Put(v any) {
	if r, ok := v.(*rawValue); ok {
		r.v = nil
		rp.p.Put(r)
	}
}

// followTenant returns a copy of m's tenant field whose Set, in a
// followed query, opens the values of the row parked before it.
func followTenant(r *nameReg, m *model) *schema.Field {
	tf := new(schema.Field)
	*tf = *m.tenant
	set := m.tenant.Set
	tf.Set = func(ctx context.Context, row reflect.Value, v any) error {
		if err := set(ctx, row, v); err != nil {
			return err
		}
		if st, ok := ctx.Value(r).(*stmtState); ok && st.query {
			return st.tenantRead(ctx, m, row)
		}
		return nil
	}
	return tf
}

// mapClone returns a copy of s whose encrypted fields scan as []byte, for
// a Find into maps: GORM scans a map's column into a new value of the
// field's Go type, which a ciphertext is not (an *int cannot hold it).
// afterScan then opens the bytes into the field's type.
func (r *nameReg) mapClone(s *schema.Schema) *schema.Schema {
	if v, ok := r.mapClones.Load(s); ok {
		return v.(*schema.Schema)
	}
	c := s
	if m := r.model(s); m.err == nil && len(m.fields) > 0 {
		c = new(schema.Schema)
		s.Relationships.Mux.RLock()
		reflect.ValueOf(c).Elem().Set(reflect.ValueOf(s).Elem())
		s.Relationships.Mux.RUnlock()
		c.Relationships.Mux = sync.RWMutex{}
		c.Fields = slices.Clone(s.Fields)
		c.FieldsByName = maps.Clone(s.FieldsByName)
		c.FieldsByDBName = maps.Clone(s.FieldsByDBName)
		c.FieldsByBindName = maps.Clone(s.FieldsByBindName)
		for _, ef := range m.fields {
			bf := new(schema.Field)
			*bf = *ef.f
			bf.FieldType, bf.IndirectFieldType = byteSlice, byteSlice
			for i, f := range c.Fields {
				if f == ef.f {
					c.Fields[i] = bf
				}
			}
			for _, fm := range []map[string]*schema.Field{c.FieldsByName, c.FieldsByDBName, c.FieldsByBindName} {
				for k, f := range fm {
					if f == ef.f {
						fm[k] = bf
					}
				}
			}
		}
	}
	if c != s {
		origins.Store(c, origin(s))
	}
	v, _ := r.mapClones.LoadOrStore(s, c)
	return v.(*schema.Schema)
}
