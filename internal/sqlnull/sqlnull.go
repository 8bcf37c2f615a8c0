// Package sqlnull lets colcrypt's integrations treat database/sql's Null
// types (sql.Null[T], sql.NullString, sql.NullInt64, sql.NullInt32,
// sql.NullInt16, sql.NullByte, sql.NullFloat64, sql.NullBool,
// sql.NullTime) as what they mean: a T that may be NULL.
//
// Valid=false is SQL NULL, stored as NULL and never encrypted; Valid=true
// is the inner value, encoded exactly as a bare T is (field's plaintext
// encoding), so a column can change its Go type between string and
// sql.NullString, or int64 and sql.Null[int64], without re-encrypting.
//
// Earlier releases sealed these types as JSON objects
// ({"String":"a","Valid":true}). [Decode] still reads such a value when
// its plaintext is exactly what encoding/json makes of the type, so rows
// written before do not turn into their JSON text.
package sqlnull

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Is reports whether t, or what a chain of pointers t leads to, is one
// of database/sql's Null types: a struct of database/sql named Null…
// whose fields are the value and Valid bool.
func Is(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return isNull(t)
}

func isNull(t reflect.Type) bool {
	return t != nil && t.Kind() == reflect.Struct && t.PkgPath() == "database/sql" &&
		strings.HasPrefix(t.Name(), "Null") && t.NumField() == 2 &&
		t.Field(1).Name == "Valid" && t.Field(1).Type.Kind() == reflect.Bool
}

// Inner returns the type of the value a Null type t holds (string for
// sql.NullString, T for sql.Null[T]), following pointers to t.
func Inner(t reflect.Type) (reflect.Type, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !isNull(t) {
		return nil, false
	}
	return t.Field(0).Type, true
}

// Encode returns the plaintext of v when v is a Null type or a pointer to
// one (handled): ok is false for NULL (Valid=false, or a nil pointer).
// For any other v, handled is false and the caller encodes v itself.
func Encode(v any) (pt []byte, ok, handled bool, err error) {
	// The types applications use most, without reflection.
	switch x := v.(type) {
	case sql.NullString:
		if !x.Valid {
			return nil, false, true, nil
		}
		return []byte(x.String), true, true, nil
	case sql.Null[string]:
		if !x.Valid {
			return nil, false, true, nil
		}
		return []byte(x.V), true, true, nil
	case sql.NullInt64:
		if !x.Valid {
			return nil, false, true, nil
		}
		return strconv.AppendInt(nil, x.Int64, 10), true, true, nil
	case sql.NullTime:
		if !x.Valid {
			return nil, false, true, nil
		}
		return []byte(x.Time.Format(time.RFC3339Nano)), true, true, nil
	}
	if v == nil || !Is(reflect.TypeOf(v)) {
		return nil, false, false, nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, false, true, nil
		}
		rv = rv.Elem()
	}
	if !rv.Field(1).Bool() {
		return nil, false, true, nil
	}
	pt, ok, err = fieldcore.EncodePlaintext(rv.Field(0).Interface())
	return pt, ok, true, err
}

// errDecode is Decode's error: it keeps no cause, as the causes of
// strconv, time and encoding/json quote their input, here plaintext.
var errDecode = errors.New("sqlnull: plaintext does not decode")

// Decode stores the plaintext pt into rv, a settable Null value or
// pointer to one (pointers are allocated afresh), and sets Valid. For
// any other rv it returns handled false and leaves rv alone. On error rv
// is unchanged.
func Decode(pt []byte, rv reflect.Value) (handled bool, err error) {
	if !Is(rv.Type()) {
		return false, nil
	}
	if rv.Kind() == reflect.Pointer {
		nv := reflect.New(rv.Type().Elem())
		if _, err := Decode(pt, nv.Elem()); err != nil {
			return true, err
		}
		rv.Set(nv)
		return true, nil
	}
	fresh := reflect.New(rv.Type()).Elem()
	if legacy(pt, fresh) {
		rv.Set(fresh)
		return true, nil
	}
	if fieldcore.DecodePlaintextValue(pt, fresh.Field(0)) != nil {
		return true, errDecode
	}
	fresh.Field(1).SetBool(true)
	rv.Set(fresh)
	return true, nil
}

// legacy decodes into the zero Null value rv a plaintext that earlier
// releases wrote, the JSON object of the whole struct, and reports
// whether pt was one. Only an exact match counts: pt must re-encode to
// itself, so a string that merely starts with "{" stays a string.
func legacy(pt []byte, rv reflect.Value) bool {
	if len(pt) == 0 || pt[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if dec.Decode(rv.Addr().Interface()) != nil || dec.More() {
		rv.SetZero()
		return false
	}
	again, err := json.Marshal(rv.Interface())
	if err != nil || !bytes.Equal(again, pt) {
		rv.SetZero()
		return false
	}
	return true
}
