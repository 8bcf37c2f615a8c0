package field_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
)

func jsonMarshal(x any) ([]byte, error) { return json.Marshal(x) }

// unwrapDEK reads a wrapped data key from the key table and unwraps it
// with the test's master key, as only a test may: the output-leak test
// needs the bytes it must not find.
func unwrapDEK(t *testing.T, e *env, tenant string, version uint32) []byte {
	t.Helper()
	var wrapped []byte
	q := `SELECT wrapped_dek FROM colcrypt_keys WHERE tenant_id = ? AND version = ?`
	if e.dsn != "" { // Postgres
		q = `SELECT wrapped_dek FROM colcrypt_keys WHERE tenant_id = $1 AND version = $2`
	}
	if err := e.db.QueryRow(q, tenant, version).Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	wc := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: tenant, Version: version}
	dek, err := e.kek.Unwrap(ctxBg, wrapped, wc)
	if err != nil {
		t.Fatalf("unwrap the test's data key: %v", err)
	}
	return dek
}

// leaks reports whether out holds key, raw or in a common encoding.
func leaks(out string, key []byte) bool {
	for _, enc := range []string{
		string(key), hex.EncodeToString(key), hex.EncodeToString(key[:8]),
		base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
	} {
		if bytes.Contains([]byte(out), []byte(enc)) {
			return true
		}
	}
	// fmt's %v of a []byte prints decimal bytes: look for the first few.
	dec := "["
	for i, b := range key[:6] {
		if i > 0 {
			dec += " "
		}
		dec += strconv.Itoa(int(b))
	}
	return bytes.Contains([]byte(out), []byte(dec))
}
