package sqltypes

import (
	"context"
	"errors"
	"fmt"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/internal/sqlnull"
)

// Index is a named blind index of a table over one or more values of a
// row: a piece of one value (the last four digits of an SSN), or several
// values at once (those digits and a zip code), as a GORM model declares
// it with index:<name> (docs/TAGGING.md). It is immutable and safe for
// concurrent use; create it once, beside the table's Columns.
//
// The index is keyed by its name and table, and is the same bytes as the
// GORM plugin's for the same tag, so both can write and read one table.
type Index struct {
	enc   *fieldcore.Engine
	table string
	ix    *fieldcore.Index
}

// NewIndex returns the index of table described by tag, in the words of
// a GORM model's index field:
//
//	index:<name>,parts:<part>[+<part>…][,bits:<n>]
//
// Each part is a label (the column it comes from, say) followed by its
// transforms: "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32".
// Value and Match then take one value per part, in that order. A tag
// that does not describe an index is a *field.TagError.
func NewIndex(enc *field.Encryptor, table, tag string) (*Index, error) {
	if enc == nil || table == "" {
		return nil, errors.New("sqltypes: NewIndex needs an Encryptor and a table")
	}
	spec, err := fieldcore.ParseTag("Index", tag)
	if err != nil {
		return nil, err
	}
	if spec.Index == nil {
		return nil, &fieldcore.TagError{Field: "Index", Tag: tag, Reason: "not an index: give index:<name> and parts:<part>[+<part>…]"}
	}
	return &Index{enc: (*fieldcore.Engine)(enc), table: table, ix: spec.Index}, nil
}

// Name is the index's name.
func (x *Index) Name() string { return x.ix.Name }

// Len is the length in bytes of the index's values.
func (x *Index) Len() int { return x.ix.Len() }

func (x *Index) errorf(op string, err error) error {
	return &ColumnError{Op: op, Table: x.table, Column: x.ix.Name, Err: err}
}

// plaintexts encodes values as their columns would be sealed; ok is
// false if one of them is NULL.
func (x *Index) plaintexts(op string, values []any) (pts [][]byte, ok bool, err error) {
	if len(values) != len(x.ix.Parts) {
		return nil, false, x.errorf(op, fmt.Errorf("%w: %d values for %d parts", fieldcore.ErrIndexParts, len(values), len(x.ix.Parts)))
	}
	pts = make([][]byte, len(values))
	ok = true
	for i, v := range values {
		pt, present, handled, err := sqlnull.Encode(v)
		if !handled {
			pt, present, err = encode(v)
		}
		if err != nil {
			return nil, false, x.errorf(op, ErrEncode)
		}
		if !present {
			ok = false
		}
		pts[i] = pt
	}
	return pts, ok, nil
}

// Value returns the index of values (one per part, in order: strings,
// integers, any type a Column takes) under the tenant's active key: the
// bytes to store in the index column beside the row's sealed values. If
// one of the values is NULL (nil, a nil pointer, an invalid sql.Null),
// the index is NULL too: Value returns nil.
func (x *Index) Value(ctx context.Context, tenant string, values ...any) ([]byte, error) {
	pts, ok, err := x.plaintexts("index", values)
	if err != nil || !ok {
		return nil, err
	}
	v, err := x.enc.Index(ctx, tenant, x.table, x.ix, pts)
	if err != nil {
		return nil, x.errorf("index", err)
	}
	return v, nil
}

// Match returns the index values a lookup of values must accept, one per
// live key version of the tenant, newest first:
//
//	WHERE tenant_id = $1 AND ssn_zip = ANY($2)
//
// A NULL among values returns no candidates, as NULL equals nothing in
// SQL; a tenant without keys returns none too.
func (x *Index) Match(ctx context.Context, tenant string, values ...any) ([][]byte, error) {
	pts, ok, err := x.plaintexts("match", values)
	if err != nil {
		return nil, err
	}
	if !ok {
		return [][]byte{}, nil
	}
	out, err := x.enc.IndexCandidates(ctx, tenant, x.table, x.ix, pts)
	if err != nil {
		return nil, x.errorf("match", err)
	}
	if out == nil {
		out = [][]byte{}
	}
	return out, nil
}
