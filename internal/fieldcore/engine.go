package fieldcore

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Scope names where a value lives: tenant, table and column.
type Scope = codec.Scope

// Engine seals and opens column values: the state behind a
// field.Encryptor (a defined type over Engine, so an integration holding
// an Encryptor converts it, (*column.Engine)(enc), and reaches the
// methods that are not field's public API). It is safe for concurrent
// use. Its one field is a pointer, so fmt and encoding/json print
// nothing of the key source behind it.
type Engine struct{ s *engine }

type engine struct {
	keys        Keys
	fixedTenant string
	meters      *meters // nil: count nothing
}

// Config is what field's options set.
type Config struct {
	// FixedTenant is the tenant of values without a row or context
	// tenant; empty for none.
	FixedTenant string
	// MeterProvider receives the seal, open and error counts; nil
	// counts nothing at all.
	MeterProvider metric.MeterProvider
	// TenantMetrics adds the tenant to the counts' attributes.
	TenantMetrics bool
}

// New returns an Engine over keys.
func New(keys Keys, cfg Config) *Engine {
	e := &engine{keys: keys, fixedTenant: cfg.FixedTenant}
	if cfg.MeterProvider != nil {
		e.meters = newMeters(cfg.MeterProvider, cfg.TenantMetrics)
	}
	return &Engine{s: e}
}

// Keys returns the key source the Engine uses.
func (e *Engine) Keys() Keys { return e.s.keys }

// activeCipher returns the Cipher of the tenant's active key for s, and
// the tenant.
func (e *Engine) activeCipher(ctx context.Context, s Scope) (*cipher.Cipher, string, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, "", err
	}
	c, err := e.indexedActiveCipher(ctx, tenant, s)
	return c, tenant, err
}

// indexedActiveCipher is the key source's ActiveCipher, its errors
// wrapped.
func (e *Engine) indexedActiveCipher(ctx context.Context, tenant string, s Scope) (*cipher.Cipher, error) {
	for attempt := 0; ; attempt++ {
		c, err := e.s.keys.ActiveCipher(ctx, tenant, s.Table, s.Column)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, keystore.ErrKeyEvicted) && attempt < 2:
			// Evicted between Active and Key.Cipher: the store hands
			// out a fresh key on the next call.
			continue
		}
		return nil, fmt.Errorf("field: %s.%s: %w", s.Table, s.Column, err)
	}
}

// indexedCipher is the key source's Cipher, its errors wrapped; a
// version the tenant never had is codec.ErrAuth.
func (e *Engine) indexedCipher(ctx context.Context, tenant string, version uint32, s Scope) (*cipher.Cipher, error) {
	for attempt := 0; ; attempt++ {
		c, err := e.s.keys.Cipher(ctx, tenant, version, s.Table, s.Column)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, keystore.ErrKeyNotFound):
			return nil, codec.ErrAuth
		case errors.Is(err, keystore.ErrKeyEvicted) && attempt < 2:
			continue
		}
		return nil, fmt.Errorf("field: %s.%s: %w", s.Table, s.Column, err)
	}
}

// Seal encrypts plaintext for s under the tenant's active key in mode m
// (randomized AES-256-GCM or deterministic AES-SIV) and returns the
// stored value.
func (e *Engine) Seal(ctx context.Context, s Scope, m Mode, plaintext []byte) ([]byte, error) {
	c, tenant, err := e.activeCipher(ctx, s)
	if err != nil {
		return nil, e.failed(ctx, opSeal, tenant, s, err)
	}
	var out []byte
	if m == Deterministic {
		out, err = c.SealDeterministic(nil, plaintext)
	} else {
		out, err = c.Seal(nil, plaintext)
	}
	if err != nil {
		return nil, e.failed(ctx, opSeal, tenant, s, err)
	}
	if ms := e.s.meters; ms != nil {
		ms.count(c, opSeal, tenant, s)
	}
	return out, nil
}

// failed counts a failed seal or open, if the Engine counts, and returns
// err.
func (e *Engine) failed(ctx context.Context, op operation, tenant string, s Scope, err error) error {
	if ms := e.s.meters; ms != nil {
		s.Tenant = tenant
		ms.failed(ctx, op, s, err)
	}
	return err
}

// SealRow is Seal for a value of a bound column: row is the row key (see
// [RowKey]) and joins the value's associated data. An empty row is a
// *RowKeyError matching ErrNoRowKey; nothing is sealed.
func (e *Engine) SealRow(ctx context.Context, s Scope, m Mode, row string, plaintext []byte) ([]byte, error) {
	var (
		c      *cipher.Cipher
		tenant string
		out    []byte
		err    error
	)
	if row == "" {
		err = &RowKeyError{Table: s.Table, Column: s.Column, Err: ErrNoRowKey}
	} else if c, tenant, err = e.activeCipher(ctx, s); err == nil {
		if m == Deterministic {
			out, err = c.SealDeterministicRow(nil, plaintext, row)
		} else {
			out, err = c.SealRow(nil, plaintext, row)
		}
	}
	if err != nil {
		return nil, e.failed(ctx, opSeal, tenant, s, err)
	}
	if ms := e.s.meters; ms != nil {
		ms.count(c, opSeal, tenant, s)
	}
	return out, nil
}

// AppendOpen authenticates and decrypts a stored value of s, binary or
// text-armored, with whichever of the tenant's key versions sealed it,
// and appends the plaintext to dst. On error dst's contents past
// len(dst) are undefined.
func (e *Engine) AppendOpen(ctx context.Context, dst []byte, s Scope, value []byte) ([]byte, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, e.failed(ctx, opOpen, "", s, err)
	}
	if version, ok := gcmVersion(value); ok {
		c, err := e.indexedCipher(ctx, tenant, version, s)
		if err != nil {
			return nil, e.failed(ctx, opOpen, tenant, s, err)
		}
		out, err := c.Open(dst, value)
		if err != nil {
			return nil, e.failed(ctx, opOpen, tenant, s, err)
		}
		if ms := e.s.meters; ms != nil {
			ms.count(c, opOpen, tenant, s)
		}
		return out, nil
	}
	v, err := ParseStored(s, value)
	if err != nil {
		return nil, e.failed(ctx, opOpen, tenant, s, err)
	}
	c, err := e.indexedCipher(ctx, tenant, v.KeyVersion, s)
	if err != nil {
		return nil, e.failed(ctx, opOpen, tenant, s, err)
	}
	out, err := c.OpenValue(dst, v)
	if err != nil {
		return nil, e.failed(ctx, opOpen, tenant, s, err)
	}
	if ms := e.s.meters; ms != nil {
		ms.count(c, opOpen, tenant, s)
	}
	return out, nil
}

// OpenRow is AppendOpen, into a new slice, for a value of a bound column
// sealed with the row key row. An empty row is a *RowKeyError matching
// ErrNoRowKey.
func (e *Engine) OpenRow(ctx context.Context, s Scope, row string, value []byte) ([]byte, error) {
	out, c, tenant, err := e.openRow(ctx, s, row, value)
	if err != nil {
		return nil, e.failed(ctx, opOpen, tenant, s, err)
	}
	if ms := e.s.meters; ms != nil {
		ms.count(c, opOpen, tenant, s)
	}
	return out, nil
}

func (e *Engine) openRow(ctx context.Context, s Scope, row string, value []byte) ([]byte, *cipher.Cipher, string, error) {
	if row == "" {
		return nil, nil, "", &RowKeyError{Table: s.Table, Column: s.Column, Err: ErrNoRowKey}
	}
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, nil, "", err
	}
	v, err := ParseStored(s, value)
	if err != nil {
		return nil, nil, tenant, err
	}
	c, err := e.indexedCipher(ctx, tenant, v.KeyVersion, s)
	if err != nil {
		return nil, nil, tenant, err
	}
	out, err := c.OpenValueRow(nil, v, row)
	return out, c, tenant, err
}

// gcmVersion reads the key version of the usual stored value, binary
// AES-GCM under a version below 128, from its third byte, for an open
// that then needs no codec.Value (cipher.Cipher.Open checks the header
// again). It accepts only values that codec.Parse accepts, so every other
// value takes ParseStored's way and fails, if it does, the same way
// before any key is looked up.
func gcmVersion(value []byte) (uint32, bool) {
	const minGCM = 3 + 12 + 16 // header, nonce, tag
	if len(value) < minGCM || len(value) > codec.MaxValueSize ||
		value[0] != codec.Magic || codec.Algorithm(value[1]) != codec.AESGCM ||
		value[2] == 0 || value[2] >= 0x80 {
		return 0, false
	}
	return uint32(value[2]), true
}

// ParseStored splits a stored value of s, binary or text-armored, into
// its parts, by the rules every reader of colcrypt values shares: a value
// that is not a colcrypt value at all is a *NotEncryptedError (plaintext
// in a column not yet migrated, say); one that is but does not parse is
// codec.ErrAuth, like every other way a value fails. The parts of a
// binary value alias it.
func ParseStored(s Scope, value []byte) (codec.Value, error) {
	// Binary values, the usual case, are told apart first.
	if !codec.IsValue(value) {
		if !codec.IsArmored(value) {
			return codec.Value{}, &NotEncryptedError{Table: s.Table, Column: s.Column}
		}
		var err error
		if value, err = codec.Dearmor(value); err != nil {
			return codec.Value{}, codec.ErrAuth
		}
	}
	v, err := codec.Parse(value)
	if err != nil {
		return codec.Value{}, codec.ErrAuth
	}
	return v, nil
}

// KeyVersion returns the key version a stored value (binary or armored)
// was sealed under, without opening it.
func KeyVersion(value []byte) (uint32, error) {
	if codec.IsArmored(value) {
		var err error
		if value, err = codec.Dearmor(value); err != nil {
			return 0, err
		}
	}
	v, err := codec.Parse(value)
	if err != nil {
		return 0, err
	}
	return v.KeyVersion, nil
}
