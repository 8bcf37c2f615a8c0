package cipher

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// Subkey labels. Each mode gets its own key so that no key is ever used by
// two algorithms.
const (
	labelGCM  = "colcrypt/v1/gcm"
	labelSIV  = "colcrypt/v1/siv"
	labelBidx = "colcrypt/v1/bidx"
)

// deriveSubkey derives a subkey of size bytes for one purpose and one
// (table, column). HKDF-SHA256 with no salt: the DEK is already uniformly
// random, so HKDF-Expand's PRF security is what matters, and the info
// string separates purposes and columns.
func deriveSubkey(dek []byte, label, table, column string, size int) ([]byte, error) {
	info := make([]byte, 0, len(label)+len(table)+len(column)+20)
	info = append(info, label...)
	info = AppendCanonical(info, table, column)
	return hkdf.Key(sha256.New, dek, nil, string(info), size)
}
