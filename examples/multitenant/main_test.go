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
		"KMS calls: 7 wraps, 0 unwraps (fake server counted 7 Encrypt, 0 Decrypt)", // a data key and an index key per tenant, an audit chain key per key table
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
