package sqltypes

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/internal/sqlnull"
)

// Column is one encrypted column of values of Go type T. It is immutable
// and safe for concurrent use; an application creates it once, beside its
// queries.
type Column[T any] struct {
	enc    *fieldcore.Engine
	table  string
	column string
	config
	// nullable: NULL scans into T as its zero value (T is a pointer, slice
	// or map, like pgx, or a database/sql Null type), instead of failing
	// with field.ErrNull.
	nullable bool
	// null: T is a database/sql Null type (nullable.go).
	null bool
	typ  reflect.Type
	// row is the row key, or a pointer to where it is scanned, of a
	// column returned by Row; nil otherwise (row.go).
	row any
}

type config struct {
	mode           field.Mode
	armor          bool
	allowPlaintext bool
	notNull        bool
	bidx           *field.BlindIndex
	bindRow        bool
}

// Option configures a Column.
type Option func(*config)

// WithTag configures the column with a colcrypt tag, in the words GORM
// models use (docs/TAGGING.md), so one vocabulary describes a column
// whichever integration writes it:
//
//	deterministic          AES-SIV instead of randomized AES-GCM: equal
//	                       values in one tenant give equal ciphertexts, so
//	                       Column.Match finds them with SQL equality; it
//	                       leaks which rows hold equal values
//	blindindex:<column>    a blind index stored in <column>
//	                       (Column.BlindIndex, Column.Match), with
//	normalize:<n>[+<n>…]   and bidxlen:<bytes> as in the tag
//	armor                  store the text armor (text, varchar columns);
//	                       Scan reads both forms either way
//	allowplaintext         Scan reads values that are not colcrypt values
//	                       as plaintext, while the column is encrypted in
//	                       place (package migrate); a value that looks
//	                       encrypted and fails to open is still an error
//	notnull                NULL is an error for a nullable T too: Scan of
//	                       NULL and Value of nil fail with field.ErrNull,
//	                       so a value erased by someone who writes the
//	                       database is noticed
//	bind                   bind each value to its row (row.go, Column.Row);
//	                       bind:<Field>, as a GORM model says it, means the same
//
// Several WithTag options add up. WithTag panics on a tag that does not
// parse, or on tenant (a Column's tenant is given with each call): a
// programmer error, which the first test run shows.
func WithTag(tag string) Option {
	spec, bind, err := parseTag(tag)
	if err != nil {
		panic(fmt.Sprintf("sqltypes: WithTag(%q): %v", tag, err))
	}
	return func(c *config) {
		if spec.Mode == field.Deterministic {
			c.mode = field.Deterministic
		}
		if spec.BlindIndex != nil {
			c.bidx = spec.BlindIndex
		}
		c.armor = c.armor || spec.Armor
		c.allowPlaintext = c.allowPlaintext || spec.AllowPlaintext
		c.notNull = c.notNull || spec.NotNull
		c.bindRow = c.bindRow || bind
	}
}

// parseTag is fieldcore.ParseTag with bind allowed without a field name: a
// Column's row key comes from Column.Row, not from a struct field.
func parseTag(tag string) (spec field.Spec, bind bool, err error) {
	items := strings.Split(tag, ",")
	kept := items[:0]
	for _, item := range items {
		if strings.EqualFold(strings.TrimSpace(item), "bind") {
			if bind {
				return field.Spec{}, false, errors.New(`option "bind" given twice`)
			}
			bind = true
			continue
		}
		kept = append(kept, item)
	}
	if spec, err = fieldcore.ParseTag("Column", strings.Join(kept, ",")); err != nil {
		return field.Spec{}, false, err
	}
	if spec.Tenant {
		return field.Spec{}, false, errors.New("tenant is an option of a GORM model's field: a Column's tenant is given with each call")
	}
	if spec.Bind != "" {
		if bind {
			return field.Spec{}, false, errors.New(`option "bind" given twice`)
		}
		bind = true
	}
	return spec, bind, nil
}

// NewColumn returns the encrypted column table.column of values of type T,
// sealed and opened by enc.
//
// NewColumn panics on a programmer error, which the first test run shows:
// a nil Encryptor, an empty table or column name, or a T that cannot be
// encrypted (a channel, a function, a complex number, an interface).
func NewColumn[T any](enc *field.Encryptor, table, column string, opts ...Option) *Column[T] {
	typ := reflect.TypeFor[T]()
	if enc == nil {
		panic("sqltypes: NewColumn with a nil *field.Encryptor")
	}
	if table == "" || column == "" {
		panic("sqltypes: NewColumn needs a table and a column name")
	}
	if err := fieldcore.CheckEncryptable(table+"."+column, nullInner(typ)); err != nil {
		panic(fmt.Sprintf("sqltypes: NewColumn[%v]: %v", typ, err))
	}
	c := &Column[T]{enc: (*fieldcore.Engine)(enc), table: table, column: column, typ: typ, null: sqlnull.Is(typ)}
	for _, o := range opts {
		o(&c.config)
	}
	switch typ.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		c.nullable = true
	}
	c.nullable = c.nullable || c.null
	return c
}

func (c *Column[T]) scope(tenant string) field.Scope {
	return field.Scope{Tenant: tenant, Table: c.table, Column: c.column}
}

func (c *Column[T]) errorf(op string, err error) error {
	return &ColumnError{Op: op, Table: c.table, Column: c.column, Err: err}
}

// Seal returns the bytes to store for v: the binary value, or with
// armor the text armor as bytes. A NULL v (a nil pointer or []byte)
// returns nil and no error: store NULL.
//
// The bytes go straight into CopyFrom rows, batches or other tools
// without a Valuer; for many values of one tenant, [Column.SealBatch] is
// faster. For an armored column in database/sql, pass string(b), so
// drivers such as SQLite store text rather than a blob.
func (c *Column[T]) Seal(ctx context.Context, tenant string, v T) ([]byte, error) {
	pt, ok, err := c.encode(v)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	if !ok {
		return nil, nil
	}
	out, err := c.seal(ctx, tenant, pt)
	if err != nil {
		return nil, c.errorf("seal", err)
	}
	if c.armor {
		out = codec.Armor(make([]byte, 0, armoredLen(len(out))), out)
	}
	return out, nil
}

// Open opens a stored value (binary or armored) into a T. It is Scan
// without database/sql: a nil stored value is NULL.
func (c *Column[T]) Open(ctx context.Context, tenant string, stored []byte) (T, error) {
	var out T
	if stored == nil {
		return out, c.scanInto(ctx, tenant, nil, nil, &out)
	}
	// Not through scanInto's any: boxing stored would allocate.
	err := c.scanStored(ctx, tenant, nil, stored, &out)
	return out, err
}

// encode is the plaintext of v. Its error keeps no cause: encoding/json
// puts values in its messages (json: unsupported value: NaN), and a
// MarshalJSON method may put anything in its errors.
func (c *Column[T]) encode(v T) ([]byte, bool, error) {
	var pt []byte
	var ok bool
	var err error
	if c.null {
		pt, ok, err = encodeNull(v)
	} else {
		pt, ok, err = encode(v)
	}
	if err != nil {
		return nil, false, &typeError{ErrEncode, c.typ}
	}
	if !ok && c.notNull {
		return nil, false, &typeError{field.ErrNull, c.typ}
	}
	return pt, ok, nil
}

// encode is fieldcore.EncodePlaintext with the common types taken without
// reflection or a copy; the bytes are the same. The result must only be
// read: it may alias v.
func encode[T any](v T) ([]byte, bool, error) {
	switch x := any(v).(type) {
	case string:
		// Sealing reads the plaintext once and keeps no reference, so the
		// string's bytes serve without a copy.
		return stringBytes(x), true, nil
	case []byte:
		if x == nil {
			return nil, false, nil
		}
		return x, true, nil
	case *string:
		if x == nil {
			return nil, false, nil
		}
		return stringBytes(*x), true, nil
	}
	return fieldcore.EncodePlaintext(v)
}

// stringBytes returns the bytes of s without a copy; they must not be
// written. An empty s gives an empty, non-nil slice, as []byte(s) does.
func stringBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
