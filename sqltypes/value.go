package sqltypes

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Value returns a driver.Valuer that seals v for the tenant's row when the
// driver asks for it, inside the Exec, Query or CopyFrom that carries it;
// an error (no tenant, KMS unavailable, shredded tenant) is returned by
// that call.
//
// The Valuer gives []byte for a binary column, which pgx sends as bytea in
// the binary format, and a string for an armored column, which pgx sends as
// text. A NULL v (a nil pointer or []byte) gives nil: SQL NULL.
//
// A Valuer seals once, on the first call to its Value method, and returns
// the same result after: pgx may ask twice while it picks a parameter
// format, and one statement should store one ciphertext. Build a new
// Valuer for each statement.
func (c *Column[T]) Value(ctx context.Context, tenant string, v T) driver.Valuer {
	return &valuer[T]{col: c, ctx: ctx, tenant: tenant, v: v}
}

type valuer[T any] struct {
	col    *Column[T]
	ctx    context.Context
	tenant string
	v      T

	once   sync.Once
	sealed []byte // nil for NULL
	err    error
}

var _ driver.Valuer = (*valuer[string])(nil)

// Value implements driver.Valuer.
func (v *valuer[T]) Value() (driver.Value, error) {
	if err := v.seal(); err != nil {
		return nil, err
	}
	switch {
	case v.sealed == nil:
		// Untyped nil: a []byte(nil) inside driver.Value would be NULL for
		// most drivers, but nil says it for all of them.
		return nil, nil
	case v.col.armor:
		return string(v.sealed), nil
	}
	return v.sealed, nil
}

// BytesValue is pgx's pgtype.BytesValuer: for a bytea parameter pgx takes
// the bytes from it straight into the binary format, without a second
// encoding plan for what Value returns. An armored value gives its text.
func (v *valuer[T]) BytesValue() ([]byte, error) {
	err := v.seal()
	return v.sealed, err
}

// seal computes the value once, through field.Encryptor.
func (v *valuer[T]) seal() error { return v.sealIn(nil) }

// sealIn computes the value once; ParallelSeal calls it ahead of the
// driver with the state of its batch.
func (v *valuer[T]) sealIn(b *batchState) error {
	v.once.Do(func() {
		if b == nil {
			v.sealed, v.err = v.col.Seal(v.ctx, v.tenant, v.v)
		} else {
			v.sealed, v.err = v.col.sealCached(v.ctx, v.tenant, v.v, b)
		}
		// Drop the plaintext: the Valuer may live on in a batch or a log
		// of arguments.
		var zero T
		v.v = zero
	})
	return v.err
}

// String keeps the plaintext out of logs that print query arguments (pgx's
// tracelog, say).
func (v *valuer[T]) String() string {
	return "sqltypes.Value(" + v.col.table + "." + v.col.column + ")"
}

// GoString is String for %#v.
func (v *valuer[T]) GoString() string { return v.String() }

// Format is String under every verb.
func (v *valuer[T]) Format(f fmt.State, _ rune) { io.WriteString(f, v.String()) }

// MarshalJSON is String for loggers that marshal arguments.
func (v *valuer[T]) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }
