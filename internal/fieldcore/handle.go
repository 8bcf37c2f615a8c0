package fieldcore

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// Handle is one tenant's ciphers for one (table, column): what an
// integration holds while it seals and opens many values of a column (a
// GORM statement, a COPY, a migration batch), so that it asks the key
// source once per key version instead of once per value, and never
// touches a codec cipher or nonce itself.
//
// The rules about keys live here and in the Engine, nowhere else:
//   - a cipher whose key was destroyed (shredded, or its store closed) is
//     dropped and looked up again, so the handle reports the store's
//     answer (keystore.ErrKeyDestroyed) rather than sealing with it;
//   - a new active version is seen when the handle is made: make one per
//     statement or batch, not per process;
//   - a bound column's values are sealed and opened with their row key
//     (SealRow, OpenRow), and an empty row key is ErrNoRowKey;
//   - randomized values take their nonces in bulk from the handle's own
//     buffer, read from crypto/rand, which is why a Handle is not safe
//     for concurrent use: one goroutine holds it.
type Handle struct {
	enc    *Engine
	scope  Scope // Tenant resolved
	active *cipher.Cipher
	// opened holds the ciphers the handle opened with, by version; a
	// column's values are nearly all under one or two versions. last is
	// the one it opened with most recently: looked at before the map,
	// since consecutive values are nearly always under the same version.
	opened map[uint32]*cipher.Cipher
	last   *cipher.Cipher
	nonces cipher.Nonces
	// counts is where the handle counts its seals and opens: nil until
	// the first one, and always nil when the Engine has no meters.
	counts *series
}

// Handle returns a Handle for s, its tenant resolved as Seal resolves it
// (the row's, else the context's, else the fixed tenant). It looks up no
// key: the first seal or open does.
func (e *Engine) Handle(ctx context.Context, s Scope) (*Handle, error) {
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return nil, err
	}
	s.Tenant = tenant
	return &Handle{enc: e, scope: s}, nil
}

// Scope returns the handle's scope, its tenant resolved.
func (h *Handle) Scope() Scope { return h.scope }

// activeCipher returns the tenant's active cipher for the column, looked
// up on first use and again if its key was destroyed since.
func (h *Handle) activeCipher(ctx context.Context) (*cipher.Cipher, error) {
	if c := h.active; c != nil && !c.Destroyed() {
		return c, nil
	}
	h.active = nil
	c, err := h.enc.indexedActiveCipher(ctx, h.scope.Tenant, h.scope)
	if err != nil {
		return nil, err
	}
	h.active = c
	return c, nil
}

// versionCipher returns the cipher that opens values under version, by
// the Engine's rules (a version the tenant never had is codec.ErrAuth).
func (h *Handle) versionCipher(ctx context.Context, version uint32) (*cipher.Cipher, error) {
	if c := h.last; c != nil && c.Version() == version && !c.Destroyed() {
		return c, nil
	}
	if c := h.active; c != nil && c.Version() == version && !c.Destroyed() {
		return c, nil
	}
	if c, ok := h.opened[version]; ok && !c.Destroyed() {
		h.last = c
		return c, nil
	}
	delete(h.opened, version)
	c, err := h.enc.indexedCipher(ctx, h.scope.Tenant, version, h.scope)
	if err != nil {
		return nil, err
	}
	if h.opened == nil {
		h.opened = make(map[uint32]*cipher.Cipher, 2)
	}
	h.opened[version] = c
	h.last = c
	return c, nil
}

// KeyVersion returns the version of the tenant's key that new values are
// sealed under, creating version 1 on first use as Seal does.
func (h *Handle) KeyVersion(ctx context.Context) (uint32, error) {
	c, err := h.activeCipher(ctx)
	if err != nil {
		return 0, err
	}
	return c.Version(), nil
}

// Seal appends to dst the stored value of plaintext under the tenant's
// active key, in mode m. Randomized values take their nonces from the
// handle's bulk buffer; the format is Engine.Seal's.
func (h *Handle) Seal(ctx context.Context, m Mode, dst, plaintext []byte) ([]byte, error) {
	c, err := h.activeCipher(ctx)
	if err == nil {
		if m == Deterministic {
			dst, err = c.SealDeterministic(dst, plaintext)
		} else {
			dst, err = c.SealNonces(dst, plaintext, &h.nonces)
		}
	}
	if h.enc.s.meters != nil {
		h.count(ctx, opSeal, err)
	}
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// SealRow is Seal for a value of a bound column: row is the row key (see
// [RowKey]). An empty row is a *RowKeyError matching ErrNoRowKey, and
// nothing is sealed.
func (h *Handle) SealRow(ctx context.Context, m Mode, row string, dst, plaintext []byte) ([]byte, error) {
	out, err := h.sealRow(ctx, m, row, dst, plaintext)
	if h.enc.s.meters != nil {
		h.count(ctx, opSeal, err)
	}
	return out, err
}

func (h *Handle) sealRow(ctx context.Context, m Mode, row string, dst, plaintext []byte) ([]byte, error) {
	if row == "" {
		return nil, &RowKeyError{Table: h.scope.Table, Column: h.scope.Column, Err: ErrNoRowKey}
	}
	c, err := h.activeCipher(ctx)
	if err != nil {
		return nil, err
	}
	if m == Deterministic {
		return c.SealDeterministicRow(dst, plaintext, row)
	}
	return c.SealRow(dst, plaintext, row)
}

// Open appends to dst the plaintext of a stored value (binary or
// armored) of the column, with whichever key version sealed it. Errors
// are Engine.AppendOpen's.
func (h *Handle) Open(ctx context.Context, dst, value []byte) ([]byte, error) {
	out, err := h.open(ctx, dst, value)
	if h.enc.s.meters != nil {
		h.count(ctx, opOpen, err)
	}
	return out, err
}

func (h *Handle) open(ctx context.Context, dst, value []byte) ([]byte, error) {
	if version, ok := gcmVersion(value); ok {
		c, err := h.versionCipher(ctx, version)
		if err != nil {
			return nil, err
		}
		return c.Open(dst, value)
	}
	v, err := ParseStored(h.scope, value)
	if err != nil {
		return nil, err
	}
	c, err := h.versionCipher(ctx, v.KeyVersion)
	if err != nil {
		return nil, err
	}
	return c.OpenValue(dst, v)
}

// OpenRow is Open for a value of a bound column sealed with the row key
// row. An empty row is a *RowKeyError matching ErrNoRowKey.
func (h *Handle) OpenRow(ctx context.Context, row string, dst, value []byte) ([]byte, error) {
	out, err := h.openRow(ctx, row, dst, value)
	if h.enc.s.meters != nil {
		h.count(ctx, opOpen, err)
	}
	return out, err
}

func (h *Handle) openRow(ctx context.Context, row string, dst, value []byte) ([]byte, error) {
	if row == "" {
		return nil, &RowKeyError{Table: h.scope.Table, Column: h.scope.Column, Err: ErrNoRowKey}
	}
	v, err := ParseStored(h.scope, value)
	if err != nil {
		return nil, err
	}
	c, err := h.versionCipher(ctx, v.KeyVersion)
	if err != nil {
		return nil, err
	}
	return c.OpenValueRow(dst, v, row)
}

// BlindIndex returns b's blind index of plaintext, to store beside a
// newly sealed value: Engine.IndexValue, except that a legacy index is
// taken under the handle's active key, the version its batch seals under.
func (h *Handle) BlindIndex(ctx context.Context, b *BlindIndex, plaintext []byte) ([]byte, error) {
	if b.Keying != IndexLegacy {
		return h.enc.IndexValue(ctx, h.scope, b, plaintext)
	}
	c, err := h.activeCipher(ctx)
	if err != nil {
		return nil, err
	}
	return b.hash(c, plaintext)
}

// String describes the handle by its table and column only.
func (h *Handle) String() string {
	return "field.Handle[" + h.scope.Table + "." + h.scope.Column + "]"
}

// GoString is String, for %#v.
func (h *Handle) GoString() string { return h.String() }

// Fork returns a handle for another goroutine sealing the same batch: the
// same scope and, if h has looked it up, the same active key version, so
// every value of a batch split across goroutines is sealed under one
// version even if the key rotates meanwhile; but its own bulk nonces and
// its own ciphers for opening, since a Handle is not safe for concurrent
// use.
func (h *Handle) Fork() *Handle {
	return &Handle{enc: h.enc, scope: h.scope, active: h.active, counts: h.counts}
}

// count records one seal or open of the handle; the Engine has meters.
func (h *Handle) count(ctx context.Context, op operation, err error) {
	if err != nil {
		h.enc.s.meters.failed(ctx, op, h.scope, err)
		return
	}
	if h.counts == nil {
		h.counts = h.enc.s.meters.series(h.scope)
	}
	h.counts.add(op)
}

// Load looks up, now, the cipher of the given key version (0: the
// tenant's active version) so that later seals and opens under it make no
// key-source call: for a caller that must not reach the key store at some
// point, such as inside a transaction on the key table's database. Its
// errors are Seal's for version 0 and Open's otherwise (a version the
// tenant never had is codec.ErrAuth).
func (h *Handle) Load(ctx context.Context, version uint32) error {
	var err error
	if version == 0 {
		_, err = h.activeCipher(ctx)
	} else {
		_, err = h.versionCipher(ctx, version)
	}
	return err
}

// LoadNewest makes the tenant's newest live version the one h seals
// under, without creating a first key as the active lookup would: for a
// dry run that must not write. A tenant without keys is
// keystore.ErrKeyNotFound.
func (h *Handle) LoadNewest(ctx context.Context) error {
	live, err := h.enc.s.keys.LiveCiphers(ctx, h.scope.Tenant, h.scope.Table, h.scope.Column)
	if err != nil {
		return err
	}
	if len(live) == 0 {
		return keystore.ErrKeyNotFound
	}
	h.active = live[0]
	return nil
}

// BlindIndexVersion is the blind index a value sealed under the given
// data key version should have beside it, for a verification: under that
// version for a legacy index, and what BlindIndex stores otherwise (an
// index key does not follow the data key's version).
func (h *Handle) BlindIndexVersion(ctx context.Context, version uint32, b *BlindIndex, plaintext []byte) ([]byte, error) {
	if b.Keying != IndexLegacy {
		return h.enc.IndexValue(ctx, h.scope, b, plaintext)
	}
	c, err := h.versionCipher(ctx, version)
	if err != nil {
		return nil, err
	}
	return b.hash(c, plaintext)
}
