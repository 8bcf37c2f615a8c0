package keystore

import (
	"crypto/rand"
	"crypto/subtle"
	"strconv"
	"unicode/utf8"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// dekContextLabel starts the KMS encryption context of every data key.
const dekContextLabel = "colcrypt/dek/v1"

// dekAAD is the associated data bound to a data key when the KMS wraps
// it: the canonical (length-prefixed) encoding of the label, the tenant
// and the version. A wrapped key copied into another tenant's row, or
// relabelled with another version, does not unwrap.
func dekAAD(tenant string, version uint32) []byte {
	return codec.AppendCanonical(nil, dekContextLabel, tenant, strconv.FormatUint(uint64(version), 10))
}

// newDEK returns a fresh random data key. crypto/rand.Read does not fail
// on supported platforms (it crashes the program rather than return
// predictable bytes).
func newDEK() []byte {
	dek := make([]byte, codec.DEKSize)
	rand.Read(dek)
	return dek
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// maxTenantLen bounds a tenant id, in bytes.
const maxTenantLen = sqldialect.MaxTenantLen

// validTenant rejects ids that the key table cannot hold faithfully:
// Postgres text refuses NUL and invalid UTF-8.
func validTenant(t string) error {
	if t == "" || len(t) > maxTenantLen || !utf8.ValidString(t) {
		return ErrInvalidTenant
	}
	for i := 0; i < len(t); i++ {
		if t[i] == 0 {
			return ErrInvalidTenant
		}
	}
	return nil
}
