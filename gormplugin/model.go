package gormplugin

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/internal/sqlnull"
)

// model is what the plugin knows about one GORM schema: its tenant field,
// its encrypted fields and their blind index columns. It is built once per
// schema and serializer name, and never changes.
type model struct {
	name     string // Go type name, for messages
	schema   *schema.Schema
	tenant   *schema.Field // nil: the tenant comes from the context or is fixed
	fields   []*encField
	byField  map[*schema.Field]*encField
	byColumn map[string]*encField // by DBName
	indexes  []*idxField          // named indexes (index.go)
	byIndex  map[string]*idxField // by index name
	err      error                // every *ModelError of the schema, joined
}

// encField is one encrypted field.
type encField struct {
	m      *model
	f      *schema.Field
	spec   field.Spec
	bidx   *schema.Field // the blind index column's field, if spec.BlindIndex
	bound  *schema.Field // the field holding the row key, if spec.Bind (bind.go)
	table  string
	column string
}

// encrypted reports whether the model has anything for the plugin to do.
func (m *model) encrypted() bool { return len(m.fields) > 0 || m.err != nil }

// model returns the model of s, building it on first use.
func (r *nameReg) model(s *schema.Schema) *model {
	if v, ok := r.models.Load(s); ok {
		return v.(*model)
	}
	m := buildModel(r, s)
	v, _ := r.models.LoadOrStore(s, m)
	return v.(*model)
}

var (
	scannerType = reflect.TypeFor[sql.Scanner]()
	valuerType  = reflect.TypeFor[driver.Valuer]()
)

// buildModel reads the colcrypt tags of s and checks them against the
// fields' types, so that a misuse is reported at the model's first use,
// naming the field, rather than as a bad value later.
func buildModel(r *nameReg, s *schema.Schema) *model {
	m := &model{
		name:     s.Name,
		schema:   s,
		byField:  make(map[*schema.Field]*encField),
		byColumn: make(map[string]*encField),
		byIndex:  make(map[string]*idxField),
	}
	indexes := map[*schema.Field]*fieldcore.Index{}
	var indexOrder []*schema.Field
	var errs []error
	fail := func(f *schema.Field, err error) {
		name := ""
		if f != nil {
			name = f.Name
		}
		errs = append(errs, &ModelError{Model: s.Name, Field: name, Err: err})
	}
	for _, f := range s.Fields {
		if f.DBName == "" {
			continue // a relation or an ignored field: no column
		}
		tag, tagged := f.Tag.Lookup(fieldcore.TagName)
		ser, isColcrypt := f.Serializer.(serializer)
		ours := isColcrypt && ser.reg == r
		if !tagged && !ours {
			continue
		}
		spec, err := fieldcore.ParseTag(s.Name+"."+f.Name, tag)
		if err != nil {
			fail(f, err)
			continue
		}
		switch {
		case spec.Index != nil:
			if err := checkIndexField(f, ours); err != nil {
				fail(f, err)
				continue
			}
			indexes[f] = spec.Index
			indexOrder = append(indexOrder, f)
		case spec.Tenant:
			if isColcrypt {
				fail(f, errors.New("the tenant field cannot be encrypted: drop the colcrypt serializer from it"))
				continue
			}
			if f.IndirectFieldType.Kind() != reflect.String || f.FieldType.Kind() == reflect.Pointer {
				fail(f, fmt.Errorf("the tenant field must be a string, not %v", f.FieldType))
				continue
			}
			if m.tenant != nil && m.tenant != f {
				fail(f, fmt.Errorf("two tenant fields: %s and %s", m.tenant.Name, f.Name))
				continue
			}
			m.tenant = f
		case ours:
			inner := f.FieldType
			if t, ok := sqlnull.Inner(inner); ok {
				inner = t // sql.Null[T] is sealed as its T
			}
			if err := fieldcore.CheckEncryptable(s.Name+"."+f.Name, inner); err != nil {
				fail(f, err)
				continue
			}
			if _, ok := f.TagSettings["DEFAULT"]; ok {
				fail(f, errors.New("an encrypted field cannot have a default: GORM would insert the default as it is, in plaintext"))
				continue
			}
			ef := &encField{m: m, f: f, spec: spec, table: s.Table, column: f.DBName}
			if b := spec.BlindIndex; b != nil {
				bf := s.LookUpField(b.Column)
				switch {
				case bf == nil || bf.DBName == "":
					fail(f, fmt.Errorf("blind index column %q has no field in %s: add one of type []byte", b.Column, s.Name))
					continue
				case bf.FieldType.Kind() != reflect.Slice || bf.FieldType.Elem().Kind() != reflect.Uint8:
					fail(f, fmt.Errorf("blind index field %s must be []byte, not %v", bf.Name, bf.FieldType))
					continue
				case bf == f:
					fail(f, fmt.Errorf("blind index column %q is the encrypted column itself", b.Column))
					continue
				}
				if bs, ok := bf.Serializer.(serializer); ok && bs.reg != nil {
					fail(f, fmt.Errorf("blind index field %s must not be encrypted", bf.Name))
					continue
				}
				ef.bidx = bf
			}
			if spec.Bind != "" {
				if ef.bound, err = boundField(s, f, spec.Bind); err != nil {
					fail(f, err)
					continue
				}
			}
			m.fields = append(m.fields, ef)
			m.byField[f] = ef
			m.byColumn[f.DBName] = ef
		case isColcrypt:
			// Another plugin's field (another serializer name): its plugin
			// checks it.
		default:
			// A colcrypt tag without the serializer would store plaintext
			// while the model looks encrypted: the worst silent failure.
			// Types with their own Scanner/Valuer (sqltypes and the like)
			// read the tag themselves.
			pt := reflect.PointerTo(f.IndirectFieldType)
			if pt.Implements(scannerType) || f.IndirectFieldType.Implements(valuerType) || pt.Implements(valuerType) {
				continue
			}
			fail(f, fmt.Errorf("has a colcrypt tag but no `gorm:\"serializer:%s\"`: it would be stored in plaintext", r.name))
		}
	}
	resolveIndexes(m, s, indexes, indexOrder, fail)
	m.err = errors.Join(errs...)
	return m
}

// valueAt returns the field f of the struct v (or pointer to one),
// following embedded pointers, without allocating: invalid if an
// embedded pointer on the way is nil. It is GORM's ValueOf without the
// serializer wrapper and without boxing the value.
func valueAt(f *schema.Field, v reflect.Value) reflect.Value {
	v = reflect.Indirect(v)
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	for _, i := range f.StructField.Index {
		if i >= 0 {
			v = v.Field(i)
			continue
		}
		v = v.Field(-i - 1)
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// tenantOf returns the tenant stored in the row v, "" if none.
func (m *model) tenantOf(v reflect.Value) string {
	if m.tenant == nil {
		return ""
	}
	if tv := valueAt(m.tenant, v); tv.IsValid() {
		return tv.String()
	}
	return ""
}

// scope is the field's field.Scope for tenant.
func (ef *encField) scope(tenant string) field.Scope {
	return field.Scope{Tenant: tenant, Table: ef.table, Column: ef.column}
}

func (ef *encField) errorf(op string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err // already names a field
	}
	return &FieldError{Op: op, Model: ef.m.name, Field: ef.f.Name, Table: ef.table, Column: ef.column, Err: err}
}

// setTenant fills an empty tenant field of the addressable row v.
func (m *model) setTenant(ctx context.Context, v reflect.Value, tenant string) error {
	return m.tenant.Set(ctx, v, tenant)
}

// misspelled returns the field a column name given by the application
// refers to when that field is one the plugin guards (the tenant, an
// encrypted field, its blind index or row key, a named index) and the
// name is not one the plugin's checks read: exactly the column, or (where
// GORM translates it, goName) the Go field name. The database reads the
// other spellings as the same column ("EMAIL" on MySQL and SQLite, which
// compare column names without regard to case; "patients.email"; a
// quoted `"email"` on Postgres), so a write naming one would skip the
// sealing and the tenant checks and store a plaintext or relabel a row.
// Expressions naming one (a raw column) are reported too.
func (m *model) misspelled(name string, raw, goName bool) *schema.Field {
	if !raw {
		if f := m.schema.FieldsByDBName[name]; f != nil {
			return nil
		}
		if f := m.schema.FieldsByName[name]; f != nil && goName {
			return nil
		}
	}
	guarded := func(f *schema.Field) bool {
		if f == nil {
			return false
		}
		if f == m.tenant || m.byField[f] != nil {
			return true
		}
		for _, ef := range m.fields {
			if f == ef.bidx || f == ef.bound {
				return true
			}
		}
		for _, x := range m.indexes {
			if f == x.f {
				return true
			}
		}
		return false
	}
	toks, clean := sqlTokens(name)
	words := bareWords(name)
	if clean {
		words = words[:0]
		for _, t := range toks {
			if t.kind == tokIdent {
				words = append(words, t.text)
			}
		}
	}
	for _, w := range words {
		for _, f := range m.schema.Fields {
			if f.DBName != "" && (strings.EqualFold(f.DBName, w) || f.Name == w) && guarded(f) {
				return f
			}
		}
	}
	return nil
}

// misspelledError is the error of a write that names a guarded column
// other than as the plugin reads it.
func (m *model) misspelledError(op, name string, f *schema.Field) error {
	return &FieldError{Op: op, Model: m.name, Field: f.Name, Table: m.schema.Table, Column: f.DBName,
		Err: fmt.Errorf("%w: the write names it as %q: name it %q (or %s)", ErrUnsupported, name, f.DBName, f.Name)}
}
