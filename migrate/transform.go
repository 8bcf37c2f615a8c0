package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/keystore"
)

// worker processes batches of one plan. It is used by one goroutine.
type worker struct {
	m    *Migrator
	p    *plan
	dry  bool
	keys keyCache
	// subs work on the job's further columns (Job.Also), in the same
	// batch transactions.
	subs []*worker
	// openers open index parts read from the job's further columns, one
	// per plan.parts entry that has an opener (see worker.opener).
	openers []*worker
}

type outcome uint8

const (
	outWrite outcome = iota
	outSkip
	outNull
	outFail
	// outCold: the row's tenant key must be loaded outside the batch
	// transaction first.
	outCold
)

// Row failure reasons. They name what is wrong, never a value's bytes.
const (
	reasonLookalike    = "looks like a colcrypt value (text armor prefix or magic byte) but does not parse: plaintext that looks encrypted, left as is"
	reasonNotEncrypted = "not encrypted (plaintext)"
	reasonTargetTaken  = "target column holds a value that is not a colcrypt value; not overwritten"
	reasonDoubleSeal   = "source value already looks like a colcrypt value; not encrypted twice"
	reasonNotText      = "plaintext is not valid UTF-8 text (or holds NUL) for a text column"
)

// rowFailure classifies an error about one row's value or tenant. Errors
// it does not know (the database or the KMS failing) stop the job instead.
func rowFailure(err error) (string, bool) {
	switch {
	case errors.Is(err, codec.ErrAuth):
		return "authentication failed: tampered, another tenant's or column's value, unknown key version, or plaintext that looks encrypted", true
	case errors.Is(err, keystore.ErrKeyDestroyed):
		return "key destroyed: the tenant was shredded", true
	case errors.Is(err, codec.ErrMalformed), errors.Is(err, codec.ErrUnsupported):
		return "malformed or unsupported colcrypt value", true
	case errors.Is(err, field.ErrNoTenant):
		return "no tenant: the tenant column is NULL or empty", true
	case errors.Is(err, field.ErrTenantMismatch):
		return "row tenant differs from the context tenant", true
	case errors.Is(err, field.ErrNoRowKey):
		return "no row key: the bind column is NULL or empty", true
	}
	return "", false
}

// looksEncrypted is the same test field.Encryptor.Open makes before
// treating a value as ciphertext.
func looksEncrypted(b []byte) bool { return codec.IsArmored(b) || codec.IsValue(b) }

// parseStored parses a binary or armored stored value.
func parseStored(b []byte) (v codec.Value, armored bool, err error) {
	if codec.IsArmored(b) {
		armored = true
		if b, err = codec.Dearmor(b); err != nil {
			return v, true, err
		}
	}
	v, err = codec.Parse(b)
	return v, armored, err
}

// tenantOf returns the row's tenant: its tenant column, the job's fixed
// tenant, or the Encryptor's.
func (w *worker) tenantOf(ctx context.Context, r *row) (string, error) {
	if w.p.tenant != nil {
		if !r.tenant.valid || len(r.tenant.b) == 0 {
			return "", field.ErrNoTenant
		}
		return w.m.enc.ResolveTenant(ctx, string(r.tenant.b))
	}
	return w.m.enc.ResolveTenant(ctx, w.p.job.Tenant)
}

func (w *worker) tenantText(r *row) string {
	if w.p.tenant != nil {
		return string(r.tenant.b)
	}
	return w.p.job.Tenant
}

// transform decides what to do with one row. err is non-nil only for
// failures that must stop the job; a row's own problems are outFail with
// a reason.
func (w *worker) transform(ctx context.Context, r *row) (outcome, write, string, error) {
	p, dry := w.p, w.dry
	fail := func(err error) (outcome, write, string, error) {
		if err == errCold {
			return outCold, write{}, "", nil
		}
		if reason, ok := rowFailure(err); ok {
			return outFail, write{}, reason, nil
		}
		// The key store or the KMS failed: the job stops.
		return outFail, write{}, "", fmt.Errorf("migrate: %s row %s: %w", p.ti.Name, r.pkText, err)
	}
	if !r.src.valid {
		return outNull, write{}, "", nil
	}
	src := r.src.b
	switch p.job.Kind {
	case Encrypt:
		if !p.inPlace && r.dst.valid {
			if _, _, err := parseStored(r.dst.b); looksEncrypted(r.dst.b) && err == nil {
				if len(p.nidx) > 0 && !looksEncrypted(src) {
					// Encrypted already (by the application, or an
					// earlier job): its named indexes may still need
					// filling, from the plaintext source.
					tenant, err := w.tenantOf(ctx, r)
					if err != nil {
						return fail(err)
					}
					return w.keepIndexed(ctx, r, tenant, r.dst.b, src)
				}
				return outSkip, write{}, "", nil
			}
			return outFail, write{}, reasonTargetTaken, nil
		}
		if looksEncrypted(src) {
			if !p.inPlace {
				return outFail, write{}, reasonDoubleSeal, nil
			}
			if _, _, err := parseStored(src); err != nil {
				return outFail, write{}, reasonLookalike, nil
			}
			if len(p.nidx) > 0 {
				return w.indexEncrypted(ctx, r, src)
			}
			return outSkip, write{}, "", nil
		}
		tenant, err := w.tenantOf(ctx, r)
		if err != nil {
			return fail(err)
		}
		if _, err := w.rowKey(r); err != nil {
			return fail(err)
		}
		c, err := w.key(ctx, keyRef{tenant: tenant})
		if dry {
			// A tenant without a key would get one; a shredded tenant
			// would fail.
			if err != nil && !errors.Is(err, keystore.ErrKeyNotFound) {
				return fail(err)
			}
			return outWrite, write{r: r}, "", nil
		}
		if err != nil {
			return fail(err)
		}
		return w.seal(ctx, r, c, p.job.Mode == field.Deterministic, p.armor, src)

	case Reencrypt:
		if !looksEncrypted(src) {
			return outFail, write{}, reasonNotEncrypted, nil
		}
		v, armored, err := parseStored(src)
		if err != nil {
			return outFail, write{}, reasonLookalike, nil
		}
		tenant, err := w.tenantOf(ctx, r)
		if err != nil {
			return fail(err)
		}
		c, err := w.key(ctx, keyRef{tenant: tenant})
		if err != nil {
			return fail(err)
		}
		active, err := c.KeyVersion(ctx)
		if err != nil {
			return fail(err)
		}
		if v.KeyVersion == active {
			return outSkip, write{}, "", nil
		}
		pt, err := w.open(ctx, r, tenant, src)
		if err != nil {
			return fail(err)
		}
		if dry {
			return outWrite, write{r: r}, "", nil
		}
		return w.seal(ctx, r, c, v.Algorithm == codec.AESSIV, p.armor || armored, pt)

	case Index:
		if !looksEncrypted(src) {
			return outFail, write{}, reasonNotEncrypted, nil
		}
		if _, _, err := parseStored(src); err != nil {
			return outFail, write{}, reasonLookalike, nil
		}
		return w.indexEncrypted(ctx, r, src)

	case Reindex:
		if !looksEncrypted(src) {
			return outFail, write{}, reasonNotEncrypted, nil
		}
		if _, _, err := parseStored(src); err != nil {
			return outFail, write{}, reasonLookalike, nil
		}
		tenant, err := w.tenantOf(ctx, r)
		if err != nil {
			return fail(err)
		}
		pt, err := w.open(ctx, r, tenant, src)
		if err != nil {
			return fail(err)
		}
		c, err := w.key(ctx, keyRef{tenant: tenant})
		if err != nil {
			return fail(err)
		}
		idx, err := c.BlindIndex(ctx, p.job.BlindIndex, pt)
		clear(pt)
		if err != nil {
			return fail(err)
		}
		if r.bidx.valid && bytes.Equal(r.bidx.b, idx) {
			return outSkip, write{}, "", nil
		}
		// The value is written back as read, under the same
		// compare-and-set as every write: a row the application
		// rewrote meanwhile (value and index) is left as it is.
		return outWrite, write{r: r, val: src, bidx: idx}, "", nil

	case Decrypt:
		var pt []byte
		if looksEncrypted(src) {
			tenant, err := w.tenantOf(ctx, r)
			if err != nil {
				return fail(err)
			}
			if pt, err = w.open(ctx, r, tenant, src); err != nil {
				return fail(err)
			}
		} else if p.inPlace {
			return outSkip, write{}, "", nil
		} else {
			// Plaintext left in the source (read with allowplaintext):
			// it is its own decryption.
			pt = src
		}
		if p.dstText && (!utf8.Valid(pt) || bytes.IndexByte(pt, 0) >= 0) {
			return outFail, write{}, reasonNotText, nil
		}
		if !p.inPlace && r.dst.valid && bytes.Equal(r.dst.b, pt) {
			return outSkip, write{}, "", nil
		}
		return outWrite, write{r: r, val: pt}, "", nil
	}
	return outFail, write{}, "", errors.New("migrate: unknown job kind")
}

// seal encrypts pt for r with h's loaded active key, and computes the
// blind index under the same key version.
func (w *worker) seal(ctx context.Context, r *row, h *fieldcore.Handle, deterministic, armor bool, pt []byte) (outcome, write, string, error) {
	mode := field.Randomized
	if deterministic {
		mode = field.Deterministic
	}
	var (
		v   []byte
		err error
	)
	key, err := w.rowKey(r)
	switch {
	case err != nil:
		if reason, ok := rowFailure(err); ok {
			return outFail, write{}, reason, nil
		}
		return outFail, write{}, "", err
	case w.p.bind != nil:
		v, err = h.SealRow(ctx, mode, key, nil, pt)
	default:
		v, err = h.Seal(ctx, mode, nil, pt)
	}
	if err != nil {
		return outFail, write{}, "cannot seal: " + err.Error(), nil
	}
	if armor {
		v = codec.Armor(nil, v)
	}
	wr := write{r: r, val: v}
	if b := w.p.job.BlindIndex; b != nil {
		if wr.bidx, err = h.BlindIndex(ctx, b, pt); err != nil {
			return outFail, write{}, "cannot index: " + err.Error(), nil
		}
	}
	if len(w.p.nidx) > 0 {
		tenant := h.Scope().Tenant
		vals, reason, err := w.indexValues(ctx, r, tenant, pt, false)
		switch {
		case err == errCold:
			return outCold, write{}, "", nil
		case err != nil:
			return outFail, write{}, "", fmt.Errorf("migrate: %s row %s: %w", w.p.ti.Name, r.pkText, err)
		case reason != "":
			return outFail, write{}, reason, nil
		}
		wr.nidx = vals
	}
	return outWrite, wr, "", nil
}

// indexEncrypted decides a row whose value src is already encrypted and
// stays as it is: its named indexes are computed from its plaintext.
func (w *worker) indexEncrypted(ctx context.Context, r *row, src []byte) (outcome, write, string, error) {
	tenant, err := w.tenantOf(ctx, r)
	if err == nil {
		var pt []byte
		if pt, err = w.open(ctx, r, tenant, src); err == nil {
			defer clear(pt)
			return w.keepIndexed(ctx, r, tenant, src, pt)
		}
	}
	switch reason, ok := rowFailure(err); {
	case err == errCold:
		return outCold, write{}, "", nil
	case ok:
		return outFail, write{}, reason, nil
	}
	return outFail, write{}, "", fmt.Errorf("migrate: %s row %s: %w", w.p.ti.Name, r.pkText, err)
}
