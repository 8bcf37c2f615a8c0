package main

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// TestBindColumn: migrate encrypt --bind-column binds every value to its
// row's key (here the integer id): it opens with that key only, and not
// unbound; verify with the same flag finds every value in order.
func TestBindColumn(t *testing.T) {
	const n = 60
	for _, dialect := range []string{"postgres", "sqlite", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.mustRun(exitOK, "keys", "init")
			bound := []string{"--table", "users", "--column", "email_enc", "--tenant-column", "tenant", "--bind-column", "id"}
			enc := decodeJSON[resultJSON](t, f.mustRun(exitOK, "migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_enc",
				"--tenant-column", "tenant", "--bind-column", "id", "-o", "json").stdout)
			if !enc.Done || enc.Updated != n-n/50 || enc.Failed != 0 {
				t.Fatalf("migrate encrypt --bind-column = %+v", enc.Result)
			}
			rep := decodeJSON[reportJSON](t, f.mustRun(exitOK, append([]string{"migrate", "verify", "-o", "json"}, bound...)...).stdout)
			if !rep.OK || rep.Encrypted != n-n/50 {
				t.Errorf("migrate verify --bind-column = %+v", rep.Report)
			}
			e := f.encryptor(f.kmsURL)
			ctx := context.Background()
			var raw []byte
			if err := f.db.QueryRow("SELECT email_enc FROM users WHERE id = 7").Scan(&raw); err != nil {
				t.Fatal(err)
			}
			s := field.Scope{Tenant: tenantOf(7), Table: "users", Column: "email_enc"}
			if pt, err := e.OpenRow(ctx, s, strconv.Itoa(7), raw); err != nil || string(pt) != "person7@example.com" {
				t.Errorf("OpenRow(row 7, key 7) = %q, %v", pt, err)
			}
			if _, err := e.OpenRow(ctx, s, "8", raw); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("OpenRow(row 7's value, key 8) err = %v, want codec.ErrAuth", err)
			}
			if _, err := e.Open(ctx, s, raw); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("Open(bound value, unbound) err = %v, want codec.ErrAuth", err)
			}
		})
	}
}
