package codec

import "encoding/binary"

// Scope is where a value lives: the tenant that owns it and the table and
// column that hold it. Its canonical encoding is part of every value's
// associated data.
type Scope struct {
	Tenant string
	Table  string
	Column string
}

// AppendCanonical appends the canonical encoding of s: each part prefixed
// with its length as a uvarint. Length prefixes, not separators, so no
// tenant id can be crafted to collide with another (tenant, table, column).
func (s Scope) AppendCanonical(dst []byte) []byte {
	dst = appendLP(dst, s.Tenant)
	dst = appendLP(dst, s.Table)
	return appendLP(dst, s.Column)
}

// AppendCanonical appends the length-prefixed encoding of parts; the same
// encoding Scope uses, for callers that bind other tuples (the key table's
// KMS context, say).
func AppendCanonical(dst []byte, parts ...string) []byte {
	for _, p := range parts {
		dst = appendLP(dst, p)
	}
	return dst
}

func appendLP(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
