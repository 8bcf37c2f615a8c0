package keystore

import (
	"crypto/rand"
	"crypto/subtle"
	"unicode/utf8"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// dekPurpose is the purpose of every data key's KMS wrap context.
const dekPurpose = "colcrypt/dek/v1"

// dekContext is what a data key is bound to when the KMS wraps it: its
// purpose, tenant and version. A wrapped key copied into another tenant's
// row, or relabelled with another version, does not unwrap. Drivers bind
// it as the canonical encoding kms.WrapContext.AAD (the bytes earlier
// releases built here) or, on AWS KMS, as readable encryption-context
// entries.
func dekContext(tenant string, version uint32) kms.WrapContext {
	return kms.WrapContext{Purpose: dekPurpose, Tenant: tenant, Version: version}
}

// newDEK returns a fresh random data key. crypto/rand.Read does not fail
// on supported platforms (it crashes the program rather than return
// predictable bytes).
func newDEK() []byte {
	dek := make([]byte, cipher.DEKSize)
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
