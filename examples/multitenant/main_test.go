package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/testhelpers"
)

func TestMultitenantExample(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, testhelpers.Postgres(t), ""); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"stored 3 patients for 2 tenants",
		"acme rotated to key version 2; acme's patients: Ann Archer Bob Baker Cat Cole",
		"found by email across versions: Bob Baker (SSN 987-65-4321)",
		"(key destroyed: true)",
		"acme after shredding globex: Ann Archer",
		// 3 data keys (acme v1 and v2, globex v1), 2 index keys (the email
		// blind index's, one per tenant) and the audit chain keys of the
		// key table and of the index key table.
		"KMS calls: 7 wraps, 0 unwraps (fake server counted 7 Encrypt, 0 Decrypt)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
