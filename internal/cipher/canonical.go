package cipher

import (
	"encoding/binary"

	"github.com/colcrypt/colcrypt/codec"
)

// AppendCanonical appends the canonical encoding of parts: each part
// prefixed with its length as a uvarint. Length prefixes, not separators,
// so no tenant id can be crafted to collide with another tuple. Values'
// associated data, HKDF infos, the key table's KMS context and the audit
// chain all use it.
func AppendCanonical(dst []byte, parts ...string) []byte {
	for _, p := range parts {
		dst = appendLP(dst, p)
	}
	return dst
}

// appendScope appends the canonical encoding of s: tenant, table, column.
func appendScope(dst []byte, s codec.Scope) []byte {
	return AppendCanonical(dst, s.Tenant, s.Table, s.Column)
}

// scopeLen is the length of s's canonical encoding.
func scopeLen(s codec.Scope) int {
	return lpLen(s.Tenant) + lpLen(s.Table) + lpLen(s.Column)
}

func lpLen(s string) int {
	var b [binary.MaxVarintLen64]byte
	return len(binary.AppendUvarint(b[:0], uint64(len(s)))) + len(s)
}

func appendLP(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
