package sqltypes

import (
	"reflect"

	"github.com/colcrypt/colcrypt/internal/sqlnull"
)

// database/sql's Null types (sql.Null[T], sql.NullString, sql.NullInt64
// and the rest) are nullable columns of their inner type: Valid=false is
// SQL NULL, never encrypted, and NULL scans as Valid=false; a valid value
// is sealed as the bare inner value is, so a column can move between
// string and sql.NullString without re-encrypting. NotNull refuses NULL
// for them as for a pointer.

// nullInner is the type a Null type T holds, for NewColumn's check that
// it can be encrypted; T itself for any other type.
func nullInner(t reflect.Type) reflect.Type {
	if in, ok := sqlnull.Inner(t); ok {
		return in
	}
	return t
}

// decodeNull is decode for a Null type T: the plaintext is the inner
// value's, and a decoded value is Valid.
func (c *Column[T]) decodeNull(pt []byte, dst *T) error {
	var fresh T
	if _, err := sqlnull.Decode(pt, reflect.ValueOf(&fresh).Elem()); err != nil {
		return c.errorf("open", &typeError{ErrDecode, c.typ})
	}
	*dst = fresh
	return nil
}

// encodeNull is encode for a Null type T: the inner value's plaintext,
// or not ok for NULL.
func encodeNull[T any](v T) ([]byte, bool, error) {
	pt, ok, _, err := sqlnull.Encode(v)
	return pt, ok, err
}
