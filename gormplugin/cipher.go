package gormplugin

import (
	"context"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// The statement's hot path.
//
// A Find of 10,000 rows opens 10,000 values per encrypted column. Going
// through field.Encryptor for each would resolve the tenant from the
// context, read the key store's cache (a lock and a clock read) and the
// key's cipher map, every time. A statement instead resolves the context
// and fixed tenants once and keeps the ciphers it used, by tenant, key
// version and column: the key store is asked once per (tenant, version,
// column) per statement. Semantics are field.Encryptor's: the same
// tenant rules, the same errors (codec.ErrAuth for every value that does
// not open, an unknown key version included).

// cipherKey names a cipher in the statement's cache; version 0 is the
// tenant's active version.
type cipherKey struct {
	ef      *encField
	tenant  string
	version uint32
}

// resolve is field.Encryptor.ResolveTenant with the context's and the
// fixed tenant looked up once per statement.
func (st *stmtState) resolve(ctx context.Context, rowTenant string) (string, error) {
	if rowTenant != "" {
		if !st.hasCtxTenant || rowTenant == st.ctxTenant {
			return rowTenant, nil
		}
		return st.p.enc.ResolveTenant(ctx, rowTenant) // the mismatch error
	}
	if !st.defaultDone {
		st.defaultTenant, st.defaultErr = st.p.enc.ResolveTenant(ctx, "")
		st.defaultDone = true
	}
	return st.defaultTenant, st.defaultErr
}

// recentCiphers is how many of the statement's last-used ciphers are
// checked before its map: a row alternates between its encrypted
// columns, so one remembered cipher would miss on every value of a model
// with two, and comparing a few keys costs less than hashing one.
const recentCiphers = 4

type recentCipher struct {
	key    cipherKey
	cipher *codec.Cipher
}

// cipher returns the cipher of ef's column under the tenant's key version
// (0: the active one), from the statement's cache or the key store.
func (st *stmtState) cipher(ctx context.Context, ef *encField, tenant string, version uint32) (*codec.Cipher, error) {
	k := cipherKey{ef, tenant, version}
	for i := range st.recent {
		if r := &st.recent[i]; r.cipher != nil && r.key == k {
			return r.cipher, nil
		}
	}
	c, ok := st.ciphers[k]
	if !ok {
		var err error
		if c, err = st.loadCipher(ctx, ef, tenant, version); err != nil {
			return nil, err
		}
		if st.ciphers == nil {
			st.ciphers = make(map[cipherKey]*codec.Cipher)
		}
		st.ciphers[k] = c
	}
	st.recent[st.recentNext] = recentCipher{k, c}
	st.recentNext = (st.recentNext + 1) % recentCiphers
	return c, nil
}

func (st *stmtState) loadCipher(ctx context.Context, ef *encField, tenant string, version uint32) (*codec.Cipher, error) {
	if version == 0 {
		return st.p.enc.ActiveCipher(ctx, ef.scope(tenant))
	}
	return st.p.enc.VersionCipher(ctx, ef.scope(tenant), version)
}

// open authenticates and decrypts a stored value (binary or armored) of
// ef under tenant, already resolved. The plaintext is in the statement's
// scratch buffer, valid until the next open: decode copies it.
func (st *stmtState) open(ctx context.Context, ef *encField, tenant, key string, stored []byte) ([]byte, error) {
	v, err := field.ParseStored(ef.scope(tenant), stored)
	if err != nil {
		return nil, err
	}
	c, err := st.cipher(ctx, ef, tenant, v.KeyVersion)
	if err != nil {
		return nil, err
	}
	var pt []byte
	if ef.bound != nil {
		pt, err = c.OpenValueRow(st.buf[:0], v, key)
	} else {
		pt, err = c.OpenValue(st.buf[:0], v)
	}
	if err != nil {
		return nil, err
	}
	st.buf = pt
	return pt, nil
}

// seal encrypts pt for ef under the tenant's active key, bound to the
// row key key if ef is bound.
func (st *stmtState) seal(ctx context.Context, ef *encField, tenant, key string, pt []byte) ([]byte, error) {
	c, err := st.cipher(ctx, ef, tenant, 0)
	if err != nil {
		return nil, err
	}
	if ef.bound != nil {
		if ef.spec.Mode == field.Deterministic {
			return c.SealDeterministicRow(nil, pt, key)
		}
		return c.SealRow(nil, pt, key)
	}
	if ef.spec.Mode == field.Deterministic {
		return c.SealDeterministic(nil, pt)
	}
	// A statement runs on one goroutine and may seal a whole batch of
	// rows: its nonces are read in bulk (codec.Nonces).
	if st.nonces == nil {
		st.nonces = codec.NewNonces()
	}
	return c.SealNonces(nil, pt, st.nonces)
}

// blindIndex computes ef's blind index of pt under the tenant's active key.
func (st *stmtState) blindIndex(ctx context.Context, ef *encField, tenant string, pt []byte) ([]byte, error) {
	c, err := st.cipher(ctx, ef, tenant, 0)
	if err != nil {
		return nil, err
	}
	b := ef.spec.BlindIndex
	return c.BlindIndex(nil, []byte(b.Normalize(string(pt))), b.Length)
}
