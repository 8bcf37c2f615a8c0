package migrate

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// bindRows are the rows of TestEncryptBindColumn: an external UUID key
// per row (one NULL), the tenant and the plaintext.
var bindRows = []struct {
	id     int64
	ext    any // nil: no row key
	tenant string
	ssn    string
}{
	{1, "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", "acme", "111-11-1111"},
	{2, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "acme", "222-22-2222"},
	{3, nil, "acme", "333-33-3333"},
}

// TestEncryptBindColumn: Encrypt with a bind column seals each value bound
// to its row's key, which the application then reads through a bound
// column (sqltypes.WithTag("bind"), the key as a string or as a Go UUID); a value
// copied into another row of the same tenant fails with codec.ErrAuth,
// in the application and in Verify; a row without a key fails and keeps
// its plaintext; Decrypt with the same binding gives the plaintext back.
func TestEncryptBindColumn(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			ext := map[dialect]string{dialectPostgres: "uuid", dialectMySQL: "CHAR(36)", dialectSQLite: "TEXT"}[dc.d]
			e.exec(`CREATE TABLE people (id ` + e.typ("bigint") + ` PRIMARY KEY, ext ` + ext + `, tenant ` + e.typ("text") + `, ssn ` + e.typ("text") + `, ssn_enc ` + e.typ("bytea") + `)`)
			ph := func(q string) string { return rebind(dc.d, q) }
			for _, r := range bindRows {
				e.exec(ph(`INSERT INTO people (id, ext, tenant, ssn) VALUES (?, ?, ?, ?)`), r.id, r.ext, r.tenant, r.ssn)
			}
			job := Job{Kind: Encrypt, Table: "people", Column: "ssn", ToColumn: "ssn_enc", TenantColumn: "tenant", BindColumn: "ext"}
			res, err := e.m.Run(ctx, job, RunOptions{})
			if !errors.Is(err, ErrRowsFailed) {
				t.Fatalf("Run(encrypt) err = %v, want ErrRowsFailed for the row without a key", err)
			}
			if res.Updated != 2 || res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].PK != "3" || !strings.Contains(res.Failures[0].Reason, "row key") {
				t.Fatalf("Encrypt with a bind column = %+v, want 2 updated and row 3 failed for its missing row key", res)
			}
			var enc3 []byte
			if err := e.db.QueryRow(`SELECT ssn_enc FROM people WHERE id = 3`).Scan(&enc3); err != nil || enc3 != nil {
				t.Errorf("row 3 without a row key: ssn_enc = %x, %v; want NULL", enc3, err)
			}

			col := sqltypes.NewColumn[string](e.enc, "people", "ssn_enc", sqltypes.WithTag("bind"))
			read := func(id int64) (string, error) {
				var key, out string
				err := e.db.QueryRowContext(ctx, ph(`SELECT ext, ssn_enc FROM people WHERE id = ?`), id).Scan(&key, col.Row(&key).Scan(ctx, "acme", &out))
				return out, err
			}
			for _, r := range bindRows[:2] {
				if got, err := read(r.id); err != nil || got != r.ssn {
					t.Errorf("read(%d) through the bound column = %q, %v; want %q", r.id, got, err, r.ssn)
				}
				// A Go UUID field ([16]byte) binds the same key.
				var u [16]byte
				hex.Decode(u[:], []byte(strings.ReplaceAll(r.ext.(string), "-", "")))
				var raw []byte
				if err := e.db.QueryRow(ph(`SELECT ssn_enc FROM people WHERE id = ?`), r.id).Scan(&raw); err != nil {
					t.Fatal(err)
				}
				if got, err := col.Row(u).Open(ctx, "acme", raw); err != nil || got != r.ssn {
					t.Errorf("Open(row %d, [16]byte key) = %q, %v; want %q", r.id, got, err, r.ssn)
				}
				// Unbound, the value does not open.
				if _, err := e.enc.Open(ctx, field.Scope{Tenant: "acme", Table: "people", Column: "ssn_enc"}, raw); !errors.Is(err, codec.ErrAuth) {
					t.Errorf("Open(row %d unbound) err = %v, want codec.ErrAuth", r.id, err)
				}
			}

			// Row 1's value copied into row 2 by SQL.
			var raw1 []byte
			if err := e.db.QueryRow(`SELECT ssn_enc FROM people WHERE id = 1`).Scan(&raw1); err != nil {
				t.Fatal(err)
			}
			e.exec(ph(`UPDATE people SET ssn_enc = ? WHERE id = 2`), raw1)
			var rep *Report
			if got, err := read(2); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("read(2) holding row 1's value = %q, %v; want codec.ErrAuth", got, err)
			}
			rep, err = e.m.Verify(ctx, Job{Table: "people", Column: "ssn_enc", TenantColumn: "tenant", BindColumn: "ext"}, RunOptions{})
			if !errors.Is(err, errVerifyFailed) || rep == nil || rep.Failed != 1 || rep.Failures[0].PK != "2" {
				t.Errorf("Verify after the copy = %+v, %v; want row 2 failed", rep, err)
			}

			// Decrypt with the binding: row 1 back in plaintext, row 2
			// fails (the moved value), row 3 was never sealed.
			e.exec(`UPDATE people SET ssn = NULL`)
			dres, err := e.m.Run(ctx, Job{Kind: Decrypt, Table: "people", Column: "ssn_enc", ToColumn: "ssn", TenantColumn: "tenant", BindColumn: "ext"}, RunOptions{})
			if !errors.Is(err, ErrRowsFailed) || dres.Updated != 1 || dres.Failed != 1 {
				t.Errorf("Decrypt with a bind column = %+v, want 1 updated and 1 failed", dres)
			}
			var ssn1 string
			if err := e.db.QueryRow(`SELECT ssn FROM people WHERE id = 1`).Scan(&ssn1); err != nil || ssn1 != bindRows[0].ssn {
				t.Errorf("decrypted row 1 = %q, %v; want %q", ssn1, err, bindRows[0].ssn)
			}
		})
	}
}

func TestBindColumnJobErrors(t *testing.T) {
	for _, job := range []Job{
		{Kind: Encrypt, Table: "t", Column: "a", BindColumn: "a"},
		{Kind: Encrypt, Table: "t", Column: "a", ToColumn: "b", BindColumn: "b"},
		{Kind: Encrypt, Table: "t", Column: "a", TenantColumn: "tenant", BindColumn: "tenant"},
	} {
		if _, err := job.normalize(); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("normalize(%+v) err = %v, want ErrInvalidJob", job, err)
		}
	}
}

// rebind turns ? placeholders into Postgres's $n.
func rebind(d dialect, q string) string {
	if d != dialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
