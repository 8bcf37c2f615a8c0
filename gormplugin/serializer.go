package gormplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/internal/sqlnull"
)

// serializer is the GORM serializer of encrypted fields. GORM copies the
// registered value for every scan, so it is one pointer and everything
// mutable lives behind it.
type serializer struct{ reg *nameReg }

var _ schema.SerializerInterface = serializer{}

var (
	stringType = reflect.TypeFor[string]()
	byteSlice  = reflect.TypeFor[[]byte]()
)

// Value seals the field's value for the row dst. The row's tenant field
// wins, then the context's tenant, then the Encryptor's fixed tenant. A
// nil pointer, slice or map is NULL.
func (s serializer) Value(ctx context.Context, f *schema.Field, dst reflect.Value, fieldValue any) (any, error) {
	p, st, err := s.reg.plugin(ctx, f.Schema)
	if err != nil {
		return nil, err
	}
	m := s.reg.model(f.Schema)
	if m.err != nil {
		return nil, m.err
	}
	ef := m.byField[f]
	if ef == nil {
		return nil, fmt.Errorf("gormplugin: %s.%s is not an encrypted field of the model", m.name, f.Name)
	}
	pt, ok, err := encode(fieldValue)
	if err != nil {
		return nil, ef.errorf("seal", err)
	}
	if !ok {
		if ef.spec.NotNull {
			return nil, ef.errorf("seal", field.ErrNull)
		}
		return nil, nil
	}
	key, err := ef.bindOf(dst)
	if err != nil {
		return nil, ef.errorf("seal", err)
	}
	return ef.seal(ctx, p, st, m.tenantOf(dst), key, pt)
}

// Scan opens the stored value into the field of the row dst, or, when the
// row's tenant is not known yet (its column comes later in the SELECT),
// parks it in the statement until it is.
func (s serializer) Scan(ctx context.Context, f *schema.Field, dst reflect.Value, dbValue any) error {
	p, st, err := s.reg.plugin(ctx, f.Schema)
	if err != nil {
		return err
	}
	rv := f.ReflectValueOf(ctx, dst)
	if st != nil && st.err != nil {
		rv.Set(reflect.Zero(rv.Type()))
		return nil
	}
	m := s.reg.model(f.Schema)
	if m.err != nil {
		return st.report(m.err)
	}
	ef := m.byField[f]
	if ef == nil {
		return st.report(fmt.Errorf("gormplugin: %s.%s is not an encrypted field of the model", m.name, f.Name))
	}
	return ef.scanStored(ctx, p, st, dst, rv, dbValue)
}

// scanDirect is Scan for a field of a schema copy (clone.go), which
// knows its encField: the model and field lookups Scan makes for every
// value (a sync.Map and a map) are made once, when the copy is built.
func (s serializer) scanDirect(ctx context.Context, ef *encField, dst reflect.Value, dbValue any) error {
	p, st, err := s.reg.plugin(ctx, ef.f.Schema)
	if err != nil {
		return err
	}
	rv := ef.f.ReflectValueOf(ctx, dst)
	if st != nil && st.err != nil {
		rv.Set(reflect.Zero(rv.Type()))
		return nil
	}
	return ef.scanStored(ctx, p, st, dst, rv, dbValue)
}

// scanStored opens dbValue, as the driver gave it, into rv, the field of
// the row dst.
func (ef *encField) scanStored(ctx context.Context, p *plugin, st *stmtState, dst, rv reflect.Value, dbValue any) error {
	if dbValue == nil {
		rv.Set(reflect.Zero(rv.Type()))
		if ef.spec.NotNull {
			return st.report(ef.errorf("open", field.ErrNull))
		}
		return nil
	}
	var stored []byte
	switch v := dbValue.(type) {
	case []byte:
		stored = v
	case string:
		stored = []byte(v)
	default:
		// A number, time or bool from a column not yet migrated.
		if !ef.spec.AllowPlaintext {
			return st.report(ef.errorf("open", &fieldcore.NotEncryptedError{Table: ef.table, Column: ef.column}))
		}
		pt, _, err := fieldcore.EncodePlaintext(v)
		if err != nil {
			return st.report(ef.errorf("open", err))
		}
		return st.report(ef.decode(pt, rv))
	}
	return st.report(ef.scan(ctx, p, st, dst, rv, stored))
}

// scan decides the tenant of a value read into rv of row.
func (ef *encField) scan(ctx context.Context, p *plugin, st *stmtState, row, rv reflect.Value, stored []byte) error {
	m := ef.m
	if ef.spec.AllowPlaintext && !codec.IsValue(stored) && !codec.IsArmored(stored) {
		// Plaintext left from before the column was encrypted. No key is
		// involved, but a row of another tenant is still refused.
		if t := m.tenantOf(row); t != "" {
			if _, err := p.enc.ResolveTenant(ctx, t); err != nil {
				return ef.errorf("open", err)
			}
		}
		return ef.decode(stored, rv)
	}
	if ef.bound != nil {
		return ef.scanBound(ctx, p, st, row, rv, stored)
	}
	if m.tenant == nil {
		return ef.openInto(ctx, p, st, "", "", stored, rv)
	}
	if t := m.tenantOf(row); t != "" {
		return ef.openInto(ctx, p, st, t, "", stored, rv)
	}
	if st == nil || !st.query {
		// No hook will tell when the tenant arrives: the context's tenant
		// (a row tenant read later can only succeed if it is the same:
		// it is part of the value's associated data) or the fixed one.
		err := ef.openInto(ctx, p, st, "", "", stored, rv)
		if errors.Is(err, field.ErrNoTenant) {
			err = ef.errorf("open", fmt.Errorf("%w (in Raw, Rows and Scan a tenant column must come before the encrypted columns)", field.ErrNoTenant))
		}
		return err
	}
	// A followed query (clone.go): the row's tenant column may come later.
	// Open under the context's or fixed tenant now; the row's tenant, when
	// set, is checked against it (tenantRead), and with only a fixed
	// tenant or none the value is parked to be opened under the row's.
	e := pending{ef: ef, row: row, key: rowKey(row)}
	if guess, err := st.resolve(ctx, ""); err != nil {
		e.err = err
	} else {
		e.guess = guess
		if err := ef.openInto(ctx, p, st, guess, "", stored, rv); err != nil {
			e.err = err
		} else {
			e.opened = true
		}
	}
	if e.opened && st.hasCtxTenant {
		return nil // nothing the row's tenant can change but a mismatch
	}
	if !st.hasCtxTenant {
		e.stored = bytes.Clone(stored) // the driver may reuse its buffer
	}
	st.pending = append(st.pending, e)
	return nil
}

// seal encrypts pt for the row's tenant and returns the value to store:
// bytes, or the armored text for an armored column. key is the row key
// of a bound field (bind.go), "" otherwise. st may be nil outside a
// statement.
func (ef *encField) seal(ctx context.Context, p *plugin, st *stmtState, rowTenant, key string, pt []byte) (any, error) {
	var out []byte
	var err error
	switch {
	case ef.bound != nil && key == "":
		err = &fieldcore.RowKeyError{Table: ef.table, Column: ef.column, Field: ef.bound.Name, Err: field.ErrNoRowKey}
	case st == nil && ef.bound != nil:
		out, err = p.enc.SealRow(ctx, ef.scope(rowTenant), ef.spec.Mode, key, pt)
	case st == nil:
		out, err = p.enc.Seal(ctx, ef.scope(rowTenant), ef.spec.Mode, pt)
	default:
		var tenant string
		if tenant, err = st.resolve(ctx, rowTenant); err == nil {
			out, err = st.seal(ctx, ef, tenant, key, pt)
		}
	}
	if err != nil {
		return nil, ef.errorf("seal", err)
	}
	if ef.spec.Armor {
		return string(codec.Armor(nil, out)), nil
	}
	return out, nil
}

// openInto opens stored under the row's tenant ("" for the context's or
// the fixed one) and, for a bound field, the row key, and decodes the
// plaintext into rv. st may be nil outside a statement.
func (ef *encField) openInto(ctx context.Context, p *plugin, st *stmtState, rowTenant, key string, stored []byte, rv reflect.Value) error {
	var pt []byte
	var err error
	switch {
	case ef.bound != nil && key == "":
		err = &fieldcore.RowKeyError{Table: ef.table, Column: ef.column, Field: ef.bound.Name, Err: field.ErrNoRowKey}
	case st == nil && ef.bound != nil:
		pt, err = p.enc.OpenRow(ctx, ef.scope(rowTenant), key, stored)
	case st == nil:
		pt, err = p.enc.AppendOpen(ctx, nil, ef.scope(rowTenant), stored)
	default:
		var tenant string
		if tenant, err = st.resolve(ctx, rowTenant); err == nil {
			pt, err = st.open(ctx, ef, tenant, key, stored)
		}
	}
	if err != nil {
		return ef.errorf("open", err)
	}
	return ef.decode(pt, rv)
}

// decode stores plaintext in rv: a fresh pointee for a pointer, so a
// pointer the caller shares is never written through.
func (ef *encField) decode(pt []byte, rv reflect.Value) error {
	switch t := rv.Type(); {
	case t == stringType:
		rv.SetString(string(pt))
		return nil
	case t == byteSlice:
		rv.SetBytes(bytes.Clone(pt))
		return nil
	case t.Kind() == reflect.Pointer:
		nv := reflect.New(t.Elem())
		if err := ef.decode(pt, nv.Elem()); err != nil {
			return err
		}
		rv.Set(nv)
		return nil
	}
	handled, err := sqlnull.Decode(pt, rv) // sql.NullString and the like
	if !handled {
		err = fieldcore.DecodePlaintextValue(pt, rv)
	}
	if err != nil {
		// The cause may quote the plaintext (strconv does): keep it out.
		return ef.errorf("open", fmt.Errorf("stored plaintext does not decode as %v", rv.Type()))
	}
	return nil
}

// stringBytes returns the bytes of s without copying them. The result
// must only be read: it is passed to the AEAD's Seal and to the blind
// index, which read their plaintext and keep no reference to it.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// encode is fieldcore.EncodePlaintext with strings and byte slices taken
// without reflection, the bytes the same, and database/sql's Null types
// encoded as their inner value (internal/sqlnull).
func encode(v any) ([]byte, bool, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), true, nil
	case []byte:
		if x == nil {
			return nil, false, nil
		}
		return x, true, nil
	case *string:
		if x == nil {
			return nil, false, nil
		}
		return []byte(*x), true, nil
	}
	// sql.NullString and the like: the inner value, or NULL.
	if pt, ok, handled, err := sqlnull.Encode(v); handled {
		return pt, ok, err
	}
	return fieldcore.EncodePlaintext(v)
}
