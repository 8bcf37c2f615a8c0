package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/testhelpers"
)

func TestQuickstart(t *testing.T) {
	dsns := map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return testhelpers.Postgres(t) },
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), &out, dsn(t)); err != nil {
				t.Fatalf("run = %v\n%s", err, out.String())
			}
			for _, want := range []string{
				"Ann Archer", "Gil Grant",
				"pasted into globex's row: codec: message authentication failed (is codec.ErrAuth: true)",
				`lookup of "  Bob@Example.com" in tenant acme: row 2, bob@example.com`,
				"KMS calls: 6 wraps, 0 unwraps", // a data key and an index key per tenant, an audit chain key per key table
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("quickstart output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
