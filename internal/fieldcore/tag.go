package fieldcore

import (
	"fmt"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// TagName is the struct tag key colcrypt reads.
const TagName = "colcrypt"

// Spec is a parsed colcrypt struct tag: what to do with one field.
//
// The grammar is a comma-separated list of options:
//
//	tenant                 the field holds the row's tenant id (not encrypted)
//	deterministic          AES-SIV instead of randomized AES-GCM
//	blindindex:<column>    store a blind index of the value in <column>
//	normalize:<n>[+<n>…]   normalizers for the blind index: lower, upper,
//	                       trim, space, nfkc, digits, alnum
//	bidxlen:<bytes>        blind index length, 2 to 32 (default 16)
//	indexkey:<keying>      which key the blind index is taken under:
//	                       auto (default: the tenant's index key, which
//	                       data-key rotation leaves alone, also matching
//	                       what a release before index keys wrote),
//	                       stable (the index key alone), legacy (its
//	                       data key version, as before index keys),
//	                       migrating (writes stable, looks up both), or
//	                       rotating (the index key version before the
//	                       active one, while an index key rotation runs)
//	bits:<n>               blind index length in bits, 16 to 256, instead
//	                       of bidxlen (default 128)
//	index:<name>           on a []byte field: this column holds the named
//	                       index whose inputs parts gives (see Index); the
//	                       field is not encrypted, and takes bits:<n> and
//	                       indexkey:rotating (during an index key rotation)
//	                       only
//	parts:<p>[+<p>…]       an index's inputs, each <Field>[/<transform>…]:
//	                       SSN/digits/last4+Zip/trim
//	armor                  store text armor (for text/varchar columns)
//	allowplaintext         read plaintext too, while the column is migrated
//	notnull                the column never holds NULL: writing a nil value
//	                       and reading NULL are errors (ErrNull), so a value
//	                       erased by setting it to NULL is noticed
//	bind:<Field>           bind the value to its row: the Go field <Field>
//	                       of the same struct (a UUID or natural key known
//	                       before the insert) joins its associated data
//
// An empty tag means a randomized, binary column.
type Spec struct {
	Tenant     bool
	Mode       Mode
	BlindIndex *BlindIndex
	// Index is set for the column of a named index (index:<name>): the
	// field holds an index over other fields and is not encrypted.
	Index          *Index
	Armor          bool
	AllowPlaintext bool
	// NotNull makes NULL an error both ways: an attacker who can write the
	// database cannot erase a value unnoticed by setting it to NULL.
	NotNull bool
	// Bind is the Go field whose value is the row key the value is bound
	// to (see [RowKey]); empty for a value bound to tenant, table and
	// column only.
	Bind string
}

// ParseTag parses the colcrypt tag of the struct field named fieldName.
// Errors are *TagError and name the field.
func ParseTag(fieldName, tag string) (Spec, error) {
	var (
		spec        Spec
		bidxColumn  string
		bidxLen     int
		bits        int
		indexName   string
		indexParts  []IndexPart
		normalizers []string
		keying      IndexKeying
		seen        = map[string]bool{}
	)
	fail := func(format string, args ...any) (Spec, error) {
		return Spec{}, &TagError{Field: fieldName, Tag: tag, Reason: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(tag) == "" {
		return spec, nil
	}
	for _, item := range strings.Split(tag, ",") {
		item = strings.TrimSpace(item)
		key, val, hasVal := strings.Cut(item, ":")
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		if key == "" {
			return fail("empty option")
		}
		if seen[key] {
			return fail("option %q given twice", key)
		}
		seen[key] = true
		needsValue := key == "blindindex" || key == "normalize" || key == "bidxlen" || key == "bind" ||
			key == "index" || key == "parts" || key == "bits" || key == "indexkey"
		if needsValue != hasVal || (hasVal && val == "") {
			if needsValue {
				return fail("option %q needs a value (%s:<value>)", key, key)
			}
			return fail("option %q takes no value", key)
		}
		switch key {
		case "tenant":
			spec.Tenant = true
		case "deterministic":
			spec.Mode = Deterministic
		case "randomized":
			spec.Mode = Randomized
		case "blindindex":
			bidxColumn = val
		case "normalize":
			normalizers = strings.Split(val, "+")
		case "bidxlen":
			n, err := strconv.Atoi(val)
			if err != nil {
				return fail("bidxlen %q is not a number", val)
			}
			bidxLen = n
		case "indexkey":
			k, ok := parseIndexKeying(strings.ToLower(val))
			if !ok {
				return fail("indexkey %q is not auto, stable, legacy, migrating or rotating", val)
			}
			keying = k
		case "bits":
			n, err := strconv.Atoi(val)
			if err != nil || n == 0 {
				return fail("bits %q is not a number of bits (%d to %d)", val, MinIndexBits, MaxIndexBits)
			}
			bits = n
		case "index":
			indexName = val
		case "parts":
			ps, err := ParseIndexParts(val)
			if err != nil {
				return fail("%s", err)
			}
			indexParts = ps
		case "armor":
			spec.Armor = true
		case "allowplaintext":
			spec.AllowPlaintext = true
		case "notnull":
			spec.NotNull = true
		case "bind":
			if !token.IsIdentifier(val) || !token.IsExported(val) {
				return fail("bind %q is not an exported Go field name", val)
			}
			spec.Bind = val
		default:
			return fail("unknown option %q", key)
		}
	}
	if spec.Tenant && len(seen) > 1 {
		return fail("tenant cannot be combined with other options: the tenant column is never encrypted")
	}
	if seen["deterministic"] && seen["randomized"] {
		return fail("deterministic and randomized contradict each other")
	}
	if indexName != "" || indexParts != nil {
		for _, k := range slices.Sorted(maps.Keys(seen)) {
			if k != "index" && k != "parts" && k != "bits" && k != "indexkey" {
				return fail("index:<name> takes parts, bits and indexkey only, not %q: the index column is not encrypted", k)
			}
		}
		if indexName == "" || indexParts == nil {
			return fail("an index needs both index:<name> and parts:<Field>[/<transform>…][+…]")
		}
		if keying != IndexAuto && keying != IndexStable && keying != IndexRotating {
			return fail("indexkey:%s: a named index is under the index key (auto, stable) or, during an index key rotation, its version before the active one (rotating)", keying)
		}
		ix, err := NewIndex(indexName, bits, indexParts...)
		if err != nil {
			return fail("%s", strings.TrimPrefix(err.Error(), "field: "))
		}
		ix.Keying = keying
		spec.Index = ix
		return spec, nil
	}
	if bidxColumn == "" && (normalizers != nil || bidxLen != 0 || bits != 0 || seen["indexkey"]) {
		return fail("normalize, bidxlen, bits and indexkey need blindindex:<column> (or index:<name>, which takes bits and indexkey)")
	}
	if bidxLen != 0 && bits != 0 {
		return fail("bidxlen and bits both give the length: use one")
	}
	if bidxColumn != "" {
		var (
			b   *BlindIndex
			err error
		)
		if bits != 0 {
			b, err = NewBlindIndexBits(bidxColumn, bits, normalizers...)
		} else {
			b, err = NewBlindIndex(bidxColumn, bidxLen, normalizers...)
		}
		if err != nil {
			return fail("%s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "field: "), "codec: "))
		}
		b.Keying = keying
		spec.BlindIndex = b
	}
	return spec, nil
}
