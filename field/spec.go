package field

import "github.com/colcrypt/colcrypt/internal/fieldcore"

// Mode is how a column's values are encrypted: [Randomized] (the
// default) or [Deterministic].
type Mode = fieldcore.Mode

const (
	// Randomized is AES-256-GCM with a random nonce: equal plaintexts give
	// unrelated values. The default.
	Randomized = fieldcore.Randomized
	// Deterministic is AES-SIV: equal plaintexts in one tenant, column and
	// key version give equal values, so the column can be matched with SQL
	// equality. It leaks which rows are equal.
	Deterministic = fieldcore.Deterministic
)

// BlindIndex configures a blind index: a keyed hash of a normalized
// plaintext, stored in its own column so a randomized column can still be
// found by equality. Make one with [NewBlindIndex].
type BlindIndex = fieldcore.BlindIndex

// IndexKeying says which key a blind index is taken under: the tenant's
// index key, which a data-key rotation leaves alone ([IndexAuto], the
// default, which also matches the indexes a release before index keys
// wrote under the data key, for the tenants and versions the key store's
// legacy index table names; [IndexStable], the index key's value alone),
// or its data key versions ([IndexLegacy], indexes written before index
// keys existed), or the first for writes and both for lookups while a
// column moves between them ([IndexMigrating]), or the index key version
// before the active one while an index key rotation fills a new column
// ([IndexRotating]). The tag option is
// indexkey:auto|stable|legacy|migrating|rotating.
type IndexKeying = fieldcore.IndexKeying

// The keyings of a blind index.
const (
	IndexAuto      = fieldcore.IndexAuto
	IndexStable    = fieldcore.IndexStable
	IndexLegacy    = fieldcore.IndexLegacy
	IndexMigrating = fieldcore.IndexMigrating
	IndexRotating  = fieldcore.IndexRotating
)

// NewBlindIndex checks a blind index configuration: the column that holds
// the index, its length in bytes (0 for the default, 16; 2 to 32), and
// the normalizers applied in order before hashing (lower, upper, trim,
// space, nfkc, digits, alnum).
func NewBlindIndex(indexColumn string, length int, normalizers ...string) (*BlindIndex, error) {
	return fieldcore.NewBlindIndex(indexColumn, length, normalizers...)
}

// Spec is what to do with one column: the parsed form of a colcrypt
// struct tag (the grammar is in docs/TAGGING.md), which sqltypes and
// migrate also take as a value.
type Spec = fieldcore.Spec

// Index is a named blind index over one or more fields of a row, each
// part transformed (lower, trim, digits, initial, first<N>, last<N>, …)
// and length-prefixed before one keyed hash: what a GORM model's
// index:<name>,parts:… tag declares ([Spec].Index) and what
// sqltypes.NewIndex computes. docs/FORMAT.md specifies its bytes.
type Index = fieldcore.Index
