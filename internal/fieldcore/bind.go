package fieldcore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
)

// Row binding.
//
// Tenant, table and column are always part of a value's associated data;
// a column tagged bind:<Field> adds the row key, the value of another
// field of the same row, so a value copied into another row of the same
// tenant and column fails to open (codec.ErrAuth). The key must exist
// before the value is sealed: a UUID or natural key the application sets,
// never an id the database generates on insert (the value is sealed
// before the insert returns it). Changing the bound field of a row makes
// its bound values unreadable until they are sealed again under the new
// key.

var (
	// ErrNoRowKey is returned when a value of a bound column is sealed or
	// opened without its row key: the bound field is empty or zero, or
	// was not read. colcrypt never falls back to an unbound seal.
	ErrNoRowKey = errors.New("field: row key is empty: a bound column needs its row's key to seal or open a value")
	// ErrRowKeyType is returned for a bound field of a type that is not a
	// row key: string, []byte, a 16-byte array (a UUID), an integer, or a
	// pointer to one of them.
	ErrRowKeyType = errors.New("field: row key must be a string, []byte, [16]byte (UUID) or integer")
)

// RowKeyError says which column lacked its row key, or had one of the
// wrong type. It matches ErrNoRowKey or ErrRowKeyType. It never holds
// the key itself.
type RowKeyError struct {
	Table, Column string
	Field         string // the bound field or column, if known
	Err           error
}

func (e *RowKeyError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("field: %s.%s: %v", e.Table, e.Column, trimPrefix(e.Err))
	}
	return fmt.Sprintf("field: %s.%s bound to %s: %v", e.Table, e.Column, e.Field, trimPrefix(e.Err))
}

func (e *RowKeyError) Unwrap() error { return e.Err }

func trimPrefix(err error) string {
	s := err.Error()
	if len(s) > 7 && s[:7] == "field: " {
		return s[7:]
	}
	return s
}

// RowKey returns the row key of a bound field's value v: a string's bytes,
// a []byte as it is, an integer in decimal, a 16-byte array (a UUID type
// such as github.com/google/uuid.UUID) in lower-case hyphenated form, the
// form Postgres gives a uuid column as text, so migrate reading the column
// and GORM reading the struct field agree. Pointers are followed.
//
// An empty or zero key is ErrNoRowKey: a row key that is not set yet must
// not bind every value to the same "" or 0. Any other type is
// ErrRowKeyType.
func RowKey(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return nonEmpty(x)
	case []byte:
		return nonEmpty(string(x))
	case nil:
		return "", ErrNoRowKey
	}
	return rowKeyValue(reflect.ValueOf(v))
}

func nonEmpty(s string) (string, error) {
	if s == "" {
		return "", ErrNoRowKey
	}
	return s, nil
}

func rowKeyValue(rv reflect.Value) (string, error) {
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			if !rowKeyType(rv.Type()) {
				return "", ErrRowKeyType
			}
			return "", ErrNoRowKey
		}
		rv = rv.Elem()
	}
	if !rowKeyType(rv.Type()) {
		return "", ErrRowKeyType
	}
	if rv.IsZero() {
		return "", ErrNoRowKey
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Slice:
		return string(rv.Bytes()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), nil
	}
	var u [16]byte
	reflect.Copy(reflect.ValueOf(&u).Elem(), rv)
	return uuidString(u), nil
}

// CheckRowKeyType reports whether a field of type t can be bound to:
// ErrRowKeyType if not. Integrations call it when they read a model, so a
// wrong type is reported before any value is written.
func CheckRowKeyType(t reflect.Type) error {
	if !rowKeyType(t) {
		return ErrRowKeyType
	}
	return nil
}

func rowKeyType(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	case reflect.Array:
		return t.Len() == 16 && t.Elem().Kind() == reflect.Uint8
	}
	return false
}

// uuidString is the RFC 9562 text form of u, lower case.
func uuidString(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
