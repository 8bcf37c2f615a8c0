package sqltypes

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/colcrypt/colcrypt/field"
)

var (
	// ErrNoLookup is returned by Match and BlindIndex for a column they
	// cannot serve: Match on a randomized column without a blind index (no
	// SQL can match its values), BlindIndex on a column without one.
	ErrNoLookup = errors.New("sqltypes: column has no blind index")
	// ErrDecode is returned when a value opens but its plaintext does not
	// decode as the column's Go type (a column declared with the wrong T,
	// or plaintext left by a migration that is not of that type). The
	// error never carries the plaintext.
	ErrDecode = errors.New("sqltypes: plaintext does not decode as the column's type")
	// ErrEncode is returned when a value cannot be encoded as plaintext: a
	// JSON-encoded type holding NaN, an infinity or a cycle, or whose
	// MarshalJSON fails. The error never carries the value.
	ErrEncode = errors.New("sqltypes: value does not encode as plaintext")
)

// ColumnError is every error of this package about a value: it names the
// operation and the column, and unwraps to the cause.
type ColumnError struct {
	Op     string // "seal", "open", "scan", "blind index" or "match"
	Table  string
	Column string
	Err    error
}

func (e *ColumnError) Error() string {
	// The cause may be one of this package's sentinels; one prefix is enough.
	return fmt.Sprintf("sqltypes: %s %s.%s: %s", e.Op, e.Table, e.Column, strings.TrimPrefix(e.Err.Error(), "sqltypes: "))
}

func (e *ColumnError) Unwrap() error { return e.Err }

// typeError is a sentinel about a Go type, with the type named:
// field.ErrNull (NULL for a type that cannot hold it, or a notnull
// column), ErrDecode, ErrEncode.
type typeError struct {
	sentinel error
	typ      reflect.Type
}

// Error leaves the package prefix to the *ColumnError it is always
// wrapped in.
func (e *typeError) Error() string {
	msg := strings.TrimPrefix(e.sentinel.Error(), "sqltypes: ")
	if e.sentinel == field.ErrNull {
		// field's text speaks of the notnull tag only; here a string or
		// int64 refuses NULL as well.
		msg = "NULL where the column's Go type or notnull refuses it"
	}
	return fmt.Sprintf("%s (%v)", msg, e.typ)
}

// Is matches the sentinel. There is no Unwrap to a cause: strconv, time
// and encoding/json put the offending input in their messages, and here
// that input is decrypted plaintext.
func (e *typeError) Is(target error) bool { return target == e.sentinel }
