package fieldcore

import (
	"errors"
	"fmt"
	"reflect"
)

var (
	// ErrNoTenant is returned when neither the row, the context nor the
	// Engine names a tenant.
	ErrNoTenant = errors.New("field: no tenant: set the row's tenant field, use field.WithTenant, or field.WithFixedTenant")
	// ErrTenantMismatch is returned when a row's tenant differs from the
	// tenant in the context.
	ErrTenantMismatch = errors.New("field: row tenant differs from context tenant")
	// ErrNotEncrypted is returned by Open for a column value that is not a
	// colcrypt value (plaintext left from before a migration, say).
	ErrNotEncrypted = errors.New("field: value is not encrypted")
	// ErrNull is returned for a NULL read from, or a nil value written to,
	// a column tagged notnull. NULL is never encrypted, so without notnull
	// anyone who can write the database can erase a value by setting it to
	// NULL and the application reads an absent value.
	ErrNull = errors.New("field: NULL in a notnull column")
)

// NotEncryptedError says which column held a value that is not encrypted.
// It matches ErrNotEncrypted.
type NotEncryptedError struct{ Table, Column string }

func (e *NotEncryptedError) Error() string {
	return fmt.Sprintf("field: %s.%s holds a value that is not a colcrypt value (plaintext? mark the column allowplaintext while it is migrated)", e.Table, e.Column)
}

func (e *NotEncryptedError) Is(target error) bool { return target == ErrNotEncrypted }

// TagError is a malformed colcrypt struct tag.
type TagError struct {
	Field  string // the Go struct field
	Tag    string
	Reason string
}

func (e *TagError) Error() string {
	return fmt.Sprintf("field: struct field %s: tag `colcrypt:%q`: %s", e.Field, e.Tag, e.Reason)
}

// UnsupportedTypeError is a tagged field of a Go type colcrypt cannot
// encrypt.
type UnsupportedTypeError struct {
	Field string
	Type  reflect.Type
}

func (e *UnsupportedTypeError) Error() string {
	return fmt.Sprintf("field: struct field %s of type %v cannot be encrypted (supported: string, []byte, integers, floats, bool, time.Time, and JSON-marshalable types)", e.Field, e.Type)
}
