package fieldcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Plaintext encoding: how a Go value becomes the bytes that are sealed.
//
// Scalars use their text form (decimal integers, strconv floats,
// true/false, RFC 3339 times with nanoseconds), strings and []byte are
// taken as they are, and anything else is JSON. Text forms, not binary,
// because a column decrypted back to plaintext (the way out of colcrypt)
// should hold what the application would have written there, and because
// a deterministic column needs one encoding per value.

var (
	timeType   = reflect.TypeFor[time.Time]()
	marshaler  = reflect.TypeFor[json.Marshaler]()
	unmarshalr = reflect.TypeFor[json.Unmarshaler]()
)

// CheckEncryptable reports, as an *UnsupportedTypeError naming fieldName,
// whether values of t cannot be encrypted. Pointers are allowed (nil is
// SQL NULL); channels, functions, complex numbers, unsafe pointers and
// bare interfaces are not.
func CheckEncryptable(fieldName string, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128,
		reflect.UnsafePointer, reflect.Interface, reflect.Invalid, reflect.Uintptr:
		return &UnsupportedTypeError{Field: fieldName, Type: t}
	}
	return nil
}

// EncodePlaintext returns the plaintext bytes of v. A nil pointer or nil
// interface returns (nil, false, nil): SQL NULL, never encrypted.
func EncodePlaintext(v any) (b []byte, ok bool, err error) {
	return EncodePlaintextValue(reflect.ValueOf(v))
}

// EncodePlaintextValue is EncodePlaintext for a reflect.Value.
func EncodePlaintextValue(rv reflect.Value) (b []byte, ok bool, err error) {
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) {
		if rv.IsNil() {
			return nil, false, nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil, false, nil
	}
	t := rv.Type()
	if t == timeType {
		return []byte(rv.Interface().(time.Time).Format(time.RFC3339Nano)), true, nil
	}
	if t.Implements(marshaler) {
		b, err := json.Marshal(rv.Interface())
		if err != nil {
			return nil, false, fmt.Errorf("field: encode %v as JSON failed", t)
		}
		return b, true, nil
	}
	switch rv.Kind() {
	case reflect.String:
		return []byte(rv.String()), true, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return nil, false, nil
			}
			return append([]byte{}, rv.Bytes()...), true, nil
		}
	case reflect.Bool:
		return strconv.AppendBool(nil, rv.Bool()), true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(nil, rv.Int(), 10), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(nil, rv.Uint(), 10), true, nil
	case reflect.Float32:
		return strconv.AppendFloat(nil, rv.Float(), 'g', -1, 32), true, nil
	case reflect.Float64:
		return strconv.AppendFloat(nil, rv.Float(), 'g', -1, 64), true, nil
	}
	if err := CheckEncryptable("value", t); err != nil {
		return nil, false, err
	}
	b, err = json.Marshal(rv.Interface())
	if err != nil {
		// json's errors can quote the value (a MarshalerError's message,
		// say); name only the type.
		return nil, false, fmt.Errorf("field: encode %v as JSON failed", t)
	}
	return b, true, nil
}

// DecodePlaintext stores plaintext bytes into the value dst points to,
// the inverse of EncodePlaintext.
func DecodePlaintext(b []byte, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("field: decode into %T: need a non-nil pointer", dst)
	}
	return DecodePlaintextValue(b, rv.Elem())
}

// DecodePlaintextValue stores plaintext bytes into the settable rv,
// allocating through pointers as needed.
func DecodePlaintextValue(b []byte, rv reflect.Value) error {
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		rv = rv.Elem()
	}
	t := rv.Type()
	if t == timeType {
		tm, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			return decodeError(t, b)
		}
		rv.Set(reflect.ValueOf(tm))
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalr) {
		if json.Unmarshal(b, rv.Addr().Interface()) != nil {
			return decodeError(t, b)
		}
		return nil
	}
	var err error
	switch rv.Kind() {
	case reflect.String:
		rv.SetString(string(b))
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			rv.SetBytes(append(make([]byte, 0, len(b)), b...))
			return nil
		}
	case reflect.Bool:
		var v bool
		if v, err = strconv.ParseBool(string(b)); err == nil {
			rv.SetBool(v)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var v int64
		if v, err = strconv.ParseInt(string(b), 10, t.Bits()); err == nil {
			rv.SetInt(v)
			return nil
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var v uint64
		if v, err = strconv.ParseUint(string(b), 10, t.Bits()); err == nil {
			rv.SetUint(v)
			return nil
		}
	case reflect.Float32, reflect.Float64:
		var v float64
		if v, err = strconv.ParseFloat(string(b), t.Bits()); err == nil {
			rv.SetFloat(v)
			return nil
		}
	}
	if err != nil {
		return decodeError(t, b)
	}
	if err := CheckEncryptable("value", t); err != nil {
		return err
	}
	if json.Unmarshal(b, rv.Addr().Interface()) != nil {
		return decodeError(t, b)
	}
	return nil
}

// ErrDecode is returned when decrypted bytes do not decode into the
// destination's Go type (a column written as another type, say).
var ErrDecode = errors.New("field: decrypted value does not decode")

// decodeError reports a decode failure without the decrypted bytes:
// strconv, time and JSON errors quote their input, which here is
// plaintext that must not reach a log.
func decodeError(t reflect.Type, b []byte) error {
	return fmt.Errorf("%w into %v (%d bytes)", ErrDecode, t, len(b))
}
