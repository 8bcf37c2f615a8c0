package sqltypes_test

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/colcrypt/colcrypt/internal/handscoped"
)

// The hand-written baseline doing colcrypt's per-value work
// (internal/handscoped: tenant check, key map under a read lock, header
// check, the same associated data), as a database/sql Valuer and Scanner
// beside handValue and handString.

// handScopedValue is the baseline's Valuer for a string.
type handScopedValue struct {
	h     *handscoped.Baseline
	ctx   context.Context
	scope handscoped.Scope
	s     string
}

func (v handScopedValue) Value() (driver.Value, error) {
	return v.h.Seal(v.ctx, v.scope, []byte(v.s))
}

// handScopedString is the baseline's Scanner for a string.
type handScopedString struct {
	h     *handscoped.Baseline
	ctx   context.Context
	scope handscoped.Scope
	dst   *string
}

func (s *handScopedString) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return errors.New("handScopedString: not bytea")
	}
	pt, err := s.h.Open(s.ctx, s.scope, b)
	if err != nil {
		return err
	}
	*s.dst = string(pt)
	return nil
}
