package kms

import (
	"encoding/binary"
	"strconv"
)

// WrapContext is what a wrapped data key is bound to: what the key is for,
// whose it is, and which of its versions. A blob unwraps only with a
// WrapContext equal to the one it was wrapped with, so a wrapped key copied
// into another tenant's row, or relabelled with another version, does not
// unwrap.
//
// It is structured, not bytes, so that each driver can hand the KMS the
// form it understands best: AWS KMS takes each field as its own
// encryption-context entry, which IAM conditions and CloudTrail can read,
// while Cloud KMS and localkms bind the canonical encoding [WrapContext.AAD].
type WrapContext struct {
	// Purpose names the kind of key and the format of the context, e.g.
	// keystore's "colcrypt/dek/v1". It is never empty on a wrap.
	Purpose string
	// Tenant is the tenant whose key is wrapped; it may be empty for a key
	// that belongs to no tenant.
	Tenant string
	// Version is the tenant's key version.
	Version uint32
}

// AAD is the canonical encoding of wc that drivers without structured
// contexts bind as associated data: lp(Purpose) ‖ lp(Tenant) ‖
// lp(decimal Version), where lp(x) is uvarint(len(x)) ‖ x. Every part is
// length-prefixed, so no tenant id can be crafted to collide with another
// context. The encoding is fixed: keys wrapped by earlier releases, which
// took these bytes as their aad, unwrap with the same WrapContext.
func (wc WrapContext) AAD() []byte {
	v := strconv.FormatUint(uint64(wc.Version), 10)
	out := make([]byte, 0, 3*binary.MaxVarintLen64+len(wc.Purpose)+len(wc.Tenant)+len(v))
	for _, p := range [...]string{wc.Purpose, wc.Tenant, v} {
		out = binary.AppendUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}
