package fieldcore

import "fmt"

// IndexKeying says which key a blind index is taken under.
//
// Releases before index keys took every blind index under a subkey of
// the tenant's data key version (IndexLegacy): a data-key rotation then
// changed the index of every value written after it, so a lookup had to
// try one value per live version and a UNIQUE constraint on the index
// column held only within one version. An index key (IndexStable) is a
// per-tenant key of its own that data-key rotation leaves alone.
type IndexKeying uint8

const (
	// IndexAuto, the default, takes the index under the tenant's index key
	// and looks up both its value and, for a tenant whose rows a release
	// before index keys wrote, the legacy value under each of the data
	// key versions that release may have used (keystore's legacy index
	// table, Store.LegacyIndexCiphers): so an index written before the
	// upgrade keeps matching until `colcrypt migrate reindex` moves it,
	// and a tenant created since sends one value per lookup.
	IndexAuto IndexKeying = iota
	// IndexStable takes the index under the tenant's index key and looks
	// up its value alone: one value per lookup, whatever data-key
	// rotations happened, and no legacy value even for a tenant the
	// legacy index table names.
	IndexStable
	// IndexLegacy takes the index under the tenant's data key version, as
	// releases before index keys did: for columns not yet migrated.
	IndexLegacy
	// IndexMigrating writes the stable index and looks up both the stable
	// and the legacy ones, while a migration rewrites the column's legacy
	// indexes (docs/ROTATING.md, "Moving a blind index to the index key").
	IndexMigrating
	// IndexRotating takes the index under the tenant's index key version
	// before the active one (the active one if it has only one), for the
	// old index column while an index key rotation fills a new column
	// under the new version (docs/ROTATING.md, "Rotating an index key").
	IndexRotating
)

// String is the tag value of k.
func (k IndexKeying) String() string {
	switch k {
	case IndexAuto:
		return "auto"
	case IndexStable:
		return "stable"
	case IndexLegacy:
		return "legacy"
	case IndexMigrating:
		return "migrating"
	case IndexRotating:
		return "rotating"
	}
	return fmt.Sprintf("IndexKeying(%d)", uint8(k))
}

// parseIndexKeying reads the indexkey tag option's value.
func parseIndexKeying(s string) (IndexKeying, bool) {
	for _, k := range []IndexKeying{IndexAuto, IndexStable, IndexLegacy, IndexMigrating, IndexRotating} {
		if s == k.String() {
			return k, true
		}
	}
	return 0, false
}
