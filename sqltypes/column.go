package sqltypes

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
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
	// or map, like pgx), instead of failing with ErrNull.
	nullable bool
	typ      reflect.Type
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

// Deterministic seals with AES-SIV instead of randomized AES-GCM: equal
// values in one tenant give equal ciphertexts (until the tenant's key
// rotates), so the column can be matched with SQL equality through
// [Column.Match]. It leaks which rows hold equal values.
func Deterministic() Option { return func(c *config) { c.mode = field.Deterministic } }

// Armor stores the text armor of each value instead of the binary value,
// for a text or varchar column. Scan reads both forms either way.
func Armor() Option { return func(c *config) { c.armor = true } }

// AllowPlaintext lets Scan read values that are not colcrypt values as
// plaintext, decoded as they are: the setting for a column whose rows are
// being encrypted in place (see package migrate). A value that looks like
// a colcrypt value and fails to open is still an error, never taken for
// plaintext, so a tampered ciphertext cannot pass as data. Remove the
// option once the migration is verified.
func AllowPlaintext() Option { return func(c *config) { c.allowPlaintext = true } }

// NotNull makes NULL an error for a nullable T too (a pointer, slice or
// map): Scan of NULL and Value of nil fail with an error matching
// [ErrNull]. NULL is never encrypted, so this is how
// a column notices a value erased by someone who writes the database.
// (A non-pointer T refuses NULL without it.)
func NotNull() Option { return func(c *config) { c.notNull = true } }

// WithBlindIndex gives the column a blind index, stored in its own column
// (b.Column): [Column.BlindIndex] computes the value to store and
// [Column.Match] the candidates to look up.
func WithBlindIndex(b *field.BlindIndex) Option { return func(c *config) { c.bidx = b } }

// WithSpec applies a parsed colcrypt struct tag (mode, armor,
// allowplaintext, blind index), so a column configured by a tag elsewhere
// can be read and written here the same way.
func WithSpec(s field.Spec) Option {
	return func(c *config) {
		c.mode, c.armor, c.allowPlaintext, c.bidx = s.Mode, s.Armor, s.AllowPlaintext, s.BlindIndex
		c.notNull = s.NotNull
		c.bindRow = s.Bind != ""
	}
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
	if err := fieldcore.CheckEncryptable(table+"."+column, typ); err != nil {
		panic(fmt.Sprintf("sqltypes: NewColumn[%v]: %v", typ, err))
	}
	c := &Column[T]{enc: (*fieldcore.Engine)(enc), table: table, column: column, typ: typ}
	for _, o := range opts {
		o(&c.config)
	}
	switch typ.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		c.nullable = true
	}
	return c
}

// Table returns the column's table.
func (c *Column[T]) Table() string { return c.table }

// Name returns the column's name.
func (c *Column[T]) Name() string { return c.column }

// Mode returns how the column's values are sealed.
func (c *Column[T]) Mode() field.Mode { return c.mode }

func (c *Column[T]) scope(tenant string) field.Scope {
	return field.Scope{Tenant: tenant, Table: c.table, Column: c.column}
}

func (c *Column[T]) errorf(op string, err error) error {
	return &ColumnError{Op: op, Table: c.table, Column: c.column, Err: err}
}

// Seal returns the bytes to store for v: the binary value, or with
// [Armor] the text armor as bytes. A NULL v (a nil pointer or []byte)
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
		return out, c.scanInto(ctx, tenant, nil, &out)
	}
	// Not through scanInto's any: boxing stored would allocate.
	err := c.scanStored(ctx, tenant, stored, &out)
	return out, err
}

// encode is the plaintext of v. Its error keeps no cause: encoding/json
// puts values in its messages (json: unsupported value: NaN), and a
// MarshalJSON method may put anything in its errors.
func (c *Column[T]) encode(v T) ([]byte, bool, error) {
	pt, ok, err := encode(v)
	if err != nil {
		return nil, false, &typeError{ErrEncode, c.typ}
	}
	if !ok && c.notNull {
		return nil, false, &typeError{ErrNull, c.typ}
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
