package gormplugin

import (
	"errors"
	"fmt"
)

var (
	// ErrNoPlugin is returned when no colcrypt plugin can be found: by
	// AutoMigrate and Match for a *gorm.DB on which none was installed with
	// db.Use(gormplugin.New(enc)); by the serializer when it was registered
	// by a plugin on another *gorm.DB, or when several databases use
	// plugins of the same serializer name and the statement does not say
	// which (scan through a statement of the right DB, or give each plugin
	// its own name with WithSerializerName).
	ErrNoPlugin = errors.New("gormplugin: no colcrypt plugin for this statement: call db.Use(gormplugin.New(enc)) first")

	// ErrModel is matched by every *ModelError: a model whose tags or
	// field types colcrypt cannot work with.
	ErrModel = errors.New("gormplugin: invalid model")

	// ErrColumnType is returned by AutoMigrate, in a *ModelError naming the
	// field, for a column that cannot hold the ciphertext of its field: a
	// text column for binary ciphertext on a database that checks text
	// encoding, a length-limited column too short for the ciphertext; or,
	// on MySQL, a tenant column of a character type, which would match
	// other tenants' ids under its collation.
	ErrColumnType = errors.New("gormplugin: column cannot hold ciphertext")

	// ErrNotMatchable is returned by Match for a field that is not
	// encrypted deterministically and has no blind index: a randomized
	// value cannot be found by equality.
	ErrNotMatchable = errors.New("gormplugin: field cannot be matched by equality")

	// ErrTenantOrder is returned when a row's tenant column was read after
	// an encrypted column in a scan the plugin cannot follow (Raw(...).Scan,
	// Rows/ScanRows, or Find into a type other than the Model) and the
	// context names no tenant. Select the tenant column before the
	// encrypted ones, or put the tenant in the context with
	// field.WithTenant.
	ErrTenantOrder = errors.New("gormplugin: tenant column read after the encrypted column")

	// ErrManyTenants is returned by an update that would write one
	// encrypted value into rows of several tenants: each tenant's rows
	// need a value sealed under its own key.
	ErrManyTenants = errors.New("gormplugin: one statement cannot write an encrypted column for several tenants")

	// ErrUnsearchable is returned, before any SQL is sent, for a condition
	// on an encrypted column that the plugin cannot run on ciphertext: LIKE,
	// <, >, BETWEEN, <>, NOT, a function or expression of the column, ORDER
	// BY or GROUP BY on it, equality on a randomized field (no blind index,
	// not deterministic), or a text the plugin cannot read with certainty.
	// What works: equality (Where("email = ?", x), "email IN ?",
	// Where(map...), Where(&Model{...})) on a deterministic or
	// blind-indexed field, which the plugin rewrites into an index lookup,
	// and gormplugin.Match. Errors wrapping it are a *FieldError naming
	// the field, and say why.
	ErrUnsearchable = errors.New("gormplugin: condition on an encrypted column cannot be searched: use equality (= ?, IN ?) on a deterministic or blind-indexed field, or gormplugin.Match")

	// ErrUnsupported is returned for a GORM operation that would hand
	// ciphertext to the caller or plaintext to the database: Pluck of an
	// encrypted column, an SQL expression assigned to one.
	ErrUnsupported = errors.New("gormplugin: unsupported operation on an encrypted column")
)

// ModelError is a model that colcrypt cannot encrypt as tagged: a bad
// colcrypt tag, an unsupported field type, a blind index column without a
// field, a colcrypt tag without the serializer, or (from AutoMigrate) a
// database column that cannot hold its values ([ErrColumnType]). It is
// reported when the model is first used (a statement or AutoMigrate),
// before any value is written. It matches ErrModel and its cause (a
// malformed tag or an unsupported type, naming the struct field, or
// ErrColumnType).
type ModelError struct {
	Model string // Go type name
	Field string // Go field name, "" for the model as a whole
	Err   error
}

func (e *ModelError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("gormplugin: model %s: %v", e.Model, e.Err)
	}
	return fmt.Sprintf("gormplugin: model %s, field %s: %v", e.Model, e.Field, e.Err)
}

// Unwrap gives ErrModel and the cause, for errors.Is and errors.As.
func (e *ModelError) Unwrap() []error { return []error{ErrModel, e.Err} }

// FieldError is a failure to seal, open or index one encrypted field. It
// names the field and its column, never the value, and unwraps to the
// cause: field.ErrNoTenant, field.ErrTenantMismatch, codec.ErrAuth,
// keystore.ErrKeyDestroyed, a KMS error (kms.IsRetryable), ...
type FieldError struct {
	Op     string // "seal", "open", "blind index", "match", "update"
	Model  string
	Field  string
	Table  string
	Column string
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("gormplugin: %s %s.%s (%s.%s): %v", e.Op, e.Model, e.Field, e.Table, e.Column, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// columnTypeError is the cause, in a *ModelError, of ErrColumnType.
type columnTypeError struct {
	table, column string
	typ           string // the column's type as the database reports it
	reason        string
}

func (e *columnTypeError) Error() string {
	return fmt.Sprintf("column %s.%s is %s: %s", e.table, e.column, e.typ, e.reason)
}

func (e *columnTypeError) Is(target error) bool { return target == ErrColumnType }
