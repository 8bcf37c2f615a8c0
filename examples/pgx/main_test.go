package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/testhelpers"
)

func TestPgxExample(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, testhelpers.Postgres(t), ""); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"copied 1000 encrypted rows",
		"found by email: Ann Archer <ann@example.com>",
		"globex: Patient 1\n",
		"KMS calls: 6 wraps, 0 unwraps", // a data key and an index key per tenant, an audit chain key per key table
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
