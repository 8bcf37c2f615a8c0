package field

import (
	"context"
	"errors"
	"fmt"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Scope names where a value lives: tenant, table and column. An empty
// Tenant is resolved from the context or the fixed tenant
// (see [Encryptor.ResolveTenant]).
type Scope = codec.Scope

// Encryptor seals and opens column values. It is safe for concurrent use;
// an application holds one.
type Encryptor struct {
	keys        Keys
	fixedTenant string
}

// Option configures an Encryptor.
type Option func(*Encryptor)

// WithFixedTenant makes every value without a row or context tenant belong
// to tenant: the setting for a single-tenant application.
func WithFixedTenant(tenant string) Option {
	return func(e *Encryptor) { e.fixedTenant = tenant }
}

// NewEncryptor returns an Encryptor over keys.
func NewEncryptor(keys Keys, opts ...Option) *Encryptor {
	e := &Encryptor{keys: keys}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Keys returns the key store the Encryptor uses.
func (e *Encryptor) Keys() Keys { return e.keys }

// ActiveCipher returns the cipher.Cipher that Seal would use for s: the
// tenant's active key, derived for s's table and column. Bulk paths (a
// CopyFrom of many rows of one tenant) hold it to seal without a key
// lookup per value; it stays valid after the key leaves the cache, so ask
// again now and then to follow rotations.
func (e *Encryptor) ActiveCipher(ctx context.Context, s Scope) (*cipher.Cipher, error) {
	return e.activeCipher(ctx, s)
}

// activeCipher returns the Cipher of the tenant's active key for s, with
// s.Tenant resolved.
func (e *Encryptor) activeCipher(ctx context.Context, s Scope) (*cipher.Cipher, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	return e.indexedActiveCipher(ctx, tenant, s)
}

// indexedActiveCipher is activeCipher through the key source's
// ActiveCipher, whose errors are wrapped.
func (e *Encryptor) indexedActiveCipher(ctx context.Context, tenant string, s Scope) (*cipher.Cipher, error) {
	for attempt := 0; ; attempt++ {
		c, err := e.keys.ActiveCipher(ctx, tenant, s.Table, s.Column)
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

// Seal encrypts plaintext for s with randomized AES-256-GCM under the
// tenant's active key, and returns the stored value.
func (e *Encryptor) Seal(ctx context.Context, s Scope, plaintext []byte) ([]byte, error) {
	c, err := e.activeCipher(ctx, s)
	if err != nil {
		return nil, err
	}
	return c.Seal(nil, plaintext)
}

// SealDeterministic encrypts plaintext for s with AES-SIV under the
// tenant's active key: equal plaintexts give equal values while the key
// version stays the same.
func (e *Encryptor) SealDeterministic(ctx context.Context, s Scope, plaintext []byte) ([]byte, error) {
	c, err := e.activeCipher(ctx, s)
	if err != nil {
		return nil, err
	}
	return c.SealDeterministic(nil, plaintext)
}

// SealMode seals with the given mode.
func (e *Encryptor) SealMode(ctx context.Context, s Scope, m Mode, plaintext []byte) ([]byte, error) {
	if m == Deterministic {
		return e.SealDeterministic(ctx, s, plaintext)
	}
	return e.Seal(ctx, s, plaintext)
}

// Open authenticates and decrypts a stored value of s, binary or
// text-armored, with whichever of the tenant's key versions sealed it.
//
// Errors: ErrNotEncrypted (as a *NotEncryptedError) for a value that is no
// colcrypt value; codec.ErrAuth for every way a value fails to
// authenticate, an unknown key version included; keystore.ErrKeyDestroyed
// for a shredded tenant; KMS errors, which kms.IsRetryable classifies.
func (e *Encryptor) Open(ctx context.Context, s Scope, value []byte) ([]byte, error) {
	return e.AppendOpen(ctx, nil, s, value)
}

// AppendOpen is Open appending the plaintext to dst, for readers that
// decode the plaintext and drop it (a string built from it, a number
// parsed from it): opened into a buffer they reuse, a value costs no
// allocation of its own. With dst nil it allocates exactly the plaintext,
// as Open does. On error dst's contents past len(dst) are undefined, and
// the caller should clear a reused buffer once it is done with it.
func (e *Encryptor) AppendOpen(ctx context.Context, dst []byte, s Scope, value []byte) ([]byte, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	if version, ok := gcmVersion(value); ok {
		c, err := e.versionCipher(ctx, tenant, version, s)
		if err != nil {
			return nil, err
		}
		return c.Open(dst, value)
	}
	v, err := ParseStored(s, value)
	if err != nil {
		return nil, err
	}
	c, err := e.versionCipher(ctx, tenant, v.KeyVersion, s)
	if err != nil {
		return nil, err
	}
	return c.OpenValue(dst, v)
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

// VersionCipher returns the cipher.Cipher that opens values of s sealed
// under the given version of the tenant's key: what Open uses once it
// has read the version from a value. A version the tenant never had is
// codec.ErrAuth, as it is for Open. Integrations that open many values
// (a GORM statement, a migration batch) hold the ciphers they use.
func (e *Encryptor) VersionCipher(ctx context.Context, s Scope, version uint32) (*cipher.Cipher, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	return e.versionCipher(ctx, tenant, version, s)
}

func (e *Encryptor) versionCipher(ctx context.Context, tenant string, version uint32, s Scope) (*cipher.Cipher, error) {
	return e.indexedCipher(ctx, tenant, version, s)
}

// indexedCipher is versionCipher through the key source's Cipher, whose
// errors are wrapped.
func (e *Encryptor) indexedCipher(ctx context.Context, tenant string, version uint32, s Scope) (*cipher.Cipher, error) {
	for attempt := 0; ; attempt++ {
		c, err := e.keys.Cipher(ctx, tenant, version, s.Table, s.Column)
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

// String, GoString and Format describe the Encryptor without reaching
// into its key store.
func (e *Encryptor) String() string   { return "field.Encryptor[redacted]" }
func (e *Encryptor) GoString() string { return e.String() }

// Format implements fmt.Formatter so every verb prints String.
func (e *Encryptor) Format(f fmt.State, _ rune) { fmt.Fprint(f, e.String()) }

// MarshalJSON keeps the Encryptor's internals out of JSON.
func (e *Encryptor) MarshalJSON() ([]byte, error) { return []byte(`"field.Encryptor[redacted]"`), nil }

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
