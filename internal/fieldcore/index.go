package fieldcore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/normalize"
)

// Index lengths in bits. The value stored is ceil(bits/8) bytes with the
// unused low bits of its last byte zero. Fewer bits make more rows share
// a value, which hides some equality at the price of false positives that
// the reader filters out after decrypting; 128 bits (the default) makes a
// collision negligible.
const (
	MinIndexBits     = cipher.MinBlindIndexLen * 8
	MaxIndexBits     = cipher.MaxBlindIndexLen * 8
	DefaultIndexBits = cipher.DefaultBlindIndexLen * 8
	// MaxIndexParts bounds the fields one compound index combines.
	MaxIndexParts = 8
	// maxIndexName keeps a name within every database's identifier
	// length (Postgres: 63 bytes).
	maxIndexName = 63
)

// indexLabel opens the HMAC input of every named index, so that it is
// never the input of a single-field blind index of the same bytes.
const indexLabel = "colcrypt/index/v1"

// ErrIndexParts is returned when an index is computed from a number of
// values other than its number of parts.
var ErrIndexParts = errors.New("field: index computed from the wrong number of values")

// errUnchecked is an Index that NewIndex did not make: its transforms
// are not resolved, and computing it would silently skip them.
var errUnchecked = errors.New("field: index not made by NewIndex")

// IndexConfigError is an index definition that does not hold: a bad
// name, an unknown transform, a bit length out of bounds.
type IndexConfigError struct {
	Index  string // the index's name, as given
	Reason string
}

func (e *IndexConfigError) Error() string {
	return fmt.Sprintf("field: index %q: %s", e.Index, e.Reason)
}

// IndexPart is one input of an index: a source, and the transforms
// applied to its plaintext encoding in order.
type IndexPart struct {
	// Source names where the part's value comes from: the Go field of a
	// GORM model, or a label of a sqltypes.Index.
	Source string
	// Transforms are normalizer names (normalize.Lookup): lower, upper,
	// trim, space, nfkc, digits, alnum, initial, first<N>, last<N>.
	Transforms []string

	apply normalize.Func
}

// Index is a named blind index over one or more parts: the keyed hash of
// the parts' transformed values, each length-prefixed, so that a lookup
// can match a piece of a value (the last four digits of an SSN) or
// several values at once (last four digits and zip code) without
// decrypting. Make one with NewIndex or ParseIndexTag; the zero value
// computes nothing.
type Index struct {
	// Name names the index in lookups and selects its key: the subkey of
	// the tenant's index key for (table, no column, name), so two indexes
	// never share a key, and never share one with an encrypted column's
	// own blind index, whose column is never empty.
	Name string
	// Bits is the value's length in bits.
	Bits  int
	Parts []IndexPart
	// Keying is IndexAuto (or IndexStable, the same for a named index,
	// which was never under a data key): the tenant's active index key; or
	// IndexRotating: the version before it, for the old column while an
	// index key rotation fills a new one (docs/ROTATING.md).
	Keying IndexKeying
}

// NewIndex checks an index definition and resolves its transforms. bits
// 0 is DefaultIndexBits. Errors are *IndexConfigError.
func NewIndex(name string, bits int, parts ...IndexPart) (*Index, error) {
	fail := func(format string, args ...any) (*Index, error) {
		return nil, &IndexConfigError{Index: name, Reason: fmt.Sprintf(format, args...)}
	}
	if !isIdent(name) || len(name) > maxIndexName {
		return fail("a name is 1 to %d letters, digits and underscores, not starting with a digit", maxIndexName)
	}
	if bits == 0 {
		bits = DefaultIndexBits
	}
	if bits < MinIndexBits || bits > MaxIndexBits {
		return fail("%d bits outside [%d, %d]", bits, MinIndexBits, MaxIndexBits)
	}
	if len(parts) == 0 || len(parts) > MaxIndexParts {
		return fail("%d parts: an index has 1 to %d", len(parts), MaxIndexParts)
	}
	ix := &Index{Name: name, Bits: bits, Parts: make([]IndexPart, len(parts))}
	for i, p := range parts {
		if !isIdent(p.Source) {
			return fail("part %d: source %q is not a field name", i+1, p.Source)
		}
		fs := make([]normalize.Func, len(p.Transforms))
		for j, t := range p.Transforms {
			f, err := normalize.Lookup(t)
			if err != nil {
				return fail("part %s: %s", p.Source, strings.TrimPrefix(err.Error(), "normalize: "))
			}
			fs[j] = f
		}
		ix.Parts[i] = IndexPart{Source: p.Source, Transforms: append([]string(nil), p.Transforms...), apply: normalize.Chain(fs...)}
	}
	return ix, nil
}

// ParseIndexParts parses the parts of an index as the tag writes them:
// parts joined by '+', each a source followed by its transforms, joined
// by '/': "SSN/digits/last4+Zip/trim".
func ParseIndexParts(def string) ([]IndexPart, error) {
	var parts []IndexPart
	for _, p := range strings.Split(def, "+") {
		words := strings.Split(p, "/")
		for i := range words {
			words[i] = strings.TrimSpace(words[i])
			if words[i] == "" {
				return nil, fmt.Errorf("parts %q: an empty source or transform", def)
			}
		}
		parts = append(parts, IndexPart{Source: words[0], Transforms: words[1:]})
	}
	return parts, nil
}

// Len is the stored value's length in bytes.
func (ix *Index) Len() int { return (ix.Bits + 7) / 8 }

// Scope is the scope of the column handle the index is computed through
// (Handle.Index): the tenant, the table and the index's name.
func (ix *Index) Scope(tenant, table string) Scope {
	return Scope{Tenant: tenant, Table: table, Column: ix.Name}
}

// Input appends to dst the HMAC input of the index for values, the
// plaintext encodings of its parts in order:
//
//	canonical("colcrypt/index/v1", name, transform(value_1), …, transform(value_n))
//
// every element length-prefixed (uvarint), so no two tuples of parts,
// of any number, give the same input.
func (ix *Index) Input(dst []byte, values [][]byte) ([]byte, error) {
	if len(ix.Parts) == 0 || ix.Parts[0].apply == nil {
		return nil, errUnchecked
	}
	if len(values) != len(ix.Parts) {
		return nil, ErrIndexParts
	}
	dst = appendLP(dst, indexLabel)
	dst = appendLP(dst, ix.Name)
	for i, p := range ix.Parts {
		dst = appendLP(dst, p.apply(string(values[i])))
	}
	return dst, nil
}

func appendLP(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// keyedHash is a legacy blind index (indexkey:legacy, under a data key
// version): the HMAC-SHA256 of input under c's blind-index subkey, cut to
// bits (whole bytes, the low bits of the last one zeroed). indexerHash is
// its counterpart under the tenant's index key, which every other index
// uses.
func keyedHash(c *cipher.Cipher, input []byte, bits int) ([]byte, error) {
	out, err := c.BlindIndex(nil, input, (bits+7)/8)
	if err != nil {
		return nil, err
	}
	return cutBits(out, bits), nil
}

// cutBits zeroes the low bits of out's last byte beyond bits.
func cutBits(out []byte, bits int) []byte {
	if r := bits % 8; r != 0 {
		out[len(out)-1] &= byte(0xFF << (8 - r))
	}
	return out
}

// indexerHash is keyedHash under an index key: the HMAC-SHA256 of input
// under x's subkey, cut to bits in the same way.
func indexerHash(x *cipher.Indexer, input []byte, bits int) ([]byte, error) {
	out, err := x.Index(nil, input, (bits+7)/8)
	if err != nil {
		return nil, err
	}
	return cutBits(out, bits), nil
}

// Index computes ix over values (the parts' plaintext encodings, in
// order) for table under the tenant's active index key (the version
// before it for IndexRotating, if there is one), creating it on first use: the value to store in the index column of a newly written
// row. A named index is always taken under the index key (there are no
// values of an older form to keep matching), so a data-key rotation leaves
// it as it is.
func (e *Engine) Index(ctx context.Context, tenant, table string, ix *Index, values [][]byte) ([]byte, error) {
	in, err := ix.Input(nil, values)
	if err != nil {
		return nil, err
	}
	tenant, err = e.ResolveTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	x, err := e.writeIndexer(ctx, tenant, table, "", ix.Name, ix.Keying)
	if err != nil {
		return nil, fmt.Errorf("field: index %s.%s: %w", table, ix.Name, err)
	}
	return indexerHash(x, in, ix.Bits)
}

// IndexCandidates returns the values a lookup matches ix's column against
// (WHERE idx IN (...)): one, under the tenant's active index key (the
// version before it for IndexRotating), or none for a tenant without one
// (no row can match, and a lookup writes no key).
func (e *Engine) IndexCandidates(ctx context.Context, tenant, table string, ix *Index, values [][]byte) ([][]byte, error) {
	in, err := ix.Input(nil, values)
	if err != nil {
		return nil, err
	}
	tenant, err = e.ResolveTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	x, err := e.lookupIndexer(ctx, tenant, table, "", ix.Name, ix.Keying)
	if err != nil {
		return nil, fmt.Errorf("field: index %s.%s: %w", table, ix.Name, err)
	}
	if x == nil {
		return nil, nil
	}
	v, err := indexerHash(x, in, ix.Bits)
	if err != nil {
		return nil, err
	}
	return [][]byte{v}, nil
}

// Index is Engine.Index for the handle's tenant; the handle's scope must
// be ix.Scope of its tenant and table.
func (h *Handle) Index(ctx context.Context, ix *Index, values [][]byte) ([]byte, error) {
	if h.scope.Column != ix.Name {
		return nil, fmt.Errorf("field: index %q computed through the handle of column %q", ix.Name, h.scope.Column)
	}
	return h.enc.Index(ctx, h.scope.Tenant, h.scope.Table, ix, values)
}

// PrefetchIndexKey makes sure the key store holds the tenant's active
// index key, creating it on first use, as storing b's or ix's value would:
// an integration calls it before it opens a transaction, so that a new
// tenant's index key is created (a KMS call and a key table write) on the
// key store's own connection and not while the statement's transaction
// holds one (on SQLite, the write lock). Give b (an index on s's column)
// or ix (a named index on s.Table); a legacy blind index needs no index
// key, and nothing is done for it.
func (e *Engine) PrefetchIndexKey(ctx context.Context, s Scope, b *BlindIndex, ix *Index) error {
	var column, name string
	switch {
	case b != nil && b.Keying != IndexLegacy:
		column, name = s.Column, b.name()
	case ix != nil:
		name = ix.Name
	default:
		return nil
	}
	tenant, err := e.ResolveTenant(ctx, s.Tenant)
	if err != nil {
		return err
	}
	if _, err := e.s.keys.ActiveIndexer(ctx, tenant, s.Table, column, name); err != nil {
		return fmt.Errorf("field: index %s.%s: %w", s.Table, name, err)
	}
	return nil
}
