package sqltypes

import (
	"context"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// BlindIndex returns the blind index of v under the tenant's index key
// (its active data key for indexkey:legacy): the bytes to store in the index column (blindindex:<column> in [WithTag]) beside the
// sealed value. A NULL v returns nil: store NULL. A column without a blind
// index returns [ErrNoLookup].
func (c *Column[T]) BlindIndex(ctx context.Context, tenant string, v T) ([]byte, error) {
	if c.bidx == nil {
		return nil, c.errorf("blind index", ErrNoLookup)
	}
	pt, ok, err := c.encode(v)
	if err != nil {
		return nil, c.errorf("blind index", err)
	}
	if !ok {
		return nil, nil
	}
	b, err := c.enc.IndexValue(ctx, c.scope(tenant), c.bidx, pt)
	if err != nil {
		return nil, c.errorf("blind index", err)
	}
	return b, nil
}

// Match returns the values an equality lookup of v must accept.
//
// With a blind index they are index values, for the index column: one,
// under the tenant's index key, which data-key rotations do not change;
// for indexkey:legacy one per live data key version, newest first (a row
// keeps the index of the version it was written under until it is
// rewritten); for indexkey:migrating both:
//
//	WHERE email_bidx = ANY($1)
//
// On a deterministic column without one they are the column's own
// values, one per live data key version, newest first, armored if the
// column is:
//
//	WHERE ssn = ANY($1)
//
// (With database/sql drivers that have no arrays, such as SQLite, expand
// them: WHERE email_bidx IN (?, ?).) A NULL v returns no candidates, as
// NULL equals nothing in SQL; a tenant without keys returns none too. A
// randomized column without a blind index returns [ErrNoLookup].
func (c *Column[T]) Match(ctx context.Context, tenant string, v T) ([][]byte, error) {
	if c.bidx == nil && (c.mode != field.Deterministic || c.bindRow) {
		// A bound deterministic value differs from row to row: no
		// equality lookup can find it without a blind index.
		return nil, c.errorf("match", ErrNoLookup)
	}
	pt, ok, err := c.encode(v)
	if err != nil {
		return nil, c.errorf("match", err)
	}
	if !ok {
		return [][]byte{}, nil
	}
	var out [][]byte
	if c.bidx != nil {
		out, err = c.enc.IndexLookupValues(ctx, c.scope(tenant), c.bidx, pt)
	} else {
		out, err = c.enc.DeterministicCandidates(ctx, c.scope(tenant), pt)
		if err == nil && c.armor {
			for i, b := range out {
				out[i] = codec.Armor(nil, b)
			}
		}
	}
	if err != nil {
		return nil, c.errorf("match", err)
	}
	if out == nil {
		out = [][]byte{}
	}
	return out, nil
}
