package gormplugin

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// The statement's hot path.
//
// A Find of 10,000 rows opens 10,000 values per encrypted column. Going
// through field.Encryptor for each would resolve the tenant from the
// context and look the key up every time. A statement instead resolves
// the context and fixed tenants once and keeps a fieldcore.Handle per
// (column, tenant): the key store is asked once per (tenant, version,
// column) per statement, and the handle keeps the rules about keys
// (destroyed keys, row binding, bulk nonces). Semantics are
// field.Encryptor's: the same tenant rules, the same errors
// (codec.ErrAuth for every value that does not open, an unknown key
// version included).

// handleKey names a handle in the statement's cache.
type handleKey struct {
	ef     *encField
	idx    *idxField // instead of ef, for a named index (index.go)
	tenant string
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

// recentHandles is how many of the statement's last-used handles are
// checked before its map: a row alternates between its encrypted
// columns, so one remembered handle would miss on every value of a model
// with two, and comparing a few keys costs less than hashing one.
const recentHandles = 4

type recentHandle struct {
	key    handleKey
	handle *fieldcore.Handle
}

// handle returns the handle of ef's column for tenant, already resolved,
// from the statement's cache or made on first use.
func (st *stmtState) handle(ctx context.Context, ef *encField, tenant string) (*fieldcore.Handle, error) {
	k := handleKey{ef: ef, tenant: tenant}
	for i := range st.recent {
		if r := &st.recent[i]; r.handle != nil && r.key == k {
			return r.handle, nil
		}
	}
	h, ok := st.handles[k]
	if !ok {
		var err error
		if h, err = st.p.enc.Handle(ctx, ef.scope(tenant)); err != nil {
			return nil, err
		}
		if st.handles == nil {
			st.handles = make(map[handleKey]*fieldcore.Handle)
		}
		st.handles[k] = h
	}
	st.recent[st.recentNext] = recentHandle{k, h}
	st.recentNext = (st.recentNext + 1) % recentHandles
	return h, nil
}

// activeVersion makes sure the tenant's active key for ef exists (a
// write looks it up before it seals anything) and returns its version.
func (st *stmtState) activeVersion(ctx context.Context, ef *encField, tenant string) (uint32, error) {
	h, err := st.handle(ctx, ef, tenant)
	if err != nil {
		return 0, err
	}
	return h.KeyVersion(ctx)
}

// open authenticates and decrypts a stored value (binary or armored) of
// ef under tenant, already resolved. The plaintext is in the statement's
// scratch buffer, valid until the next open: decode copies it.
func (st *stmtState) open(ctx context.Context, ef *encField, tenant, key string, stored []byte) ([]byte, error) {
	h, err := st.handle(ctx, ef, tenant)
	if err != nil {
		return nil, err
	}
	var pt []byte
	if ef.bound != nil {
		pt, err = h.OpenRow(ctx, key, st.buf[:0], stored)
	} else {
		pt, err = h.Open(ctx, st.buf[:0], stored)
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
	h, err := st.handle(ctx, ef, tenant)
	if err != nil {
		return nil, err
	}
	if ef.bound != nil {
		return h.SealRow(ctx, ef.spec.Mode, key, nil, pt)
	}
	return h.Seal(ctx, ef.spec.Mode, nil, pt)
}

// blindIndex computes ef's blind index of pt under the tenant's active key.
func (st *stmtState) blindIndex(ctx context.Context, ef *encField, tenant string, pt []byte) ([]byte, error) {
	h, err := st.handle(ctx, ef, tenant)
	if err != nil {
		return nil, err
	}
	return h.BlindIndex(ctx, ef.spec.BlindIndex, pt)
}
