package migrate

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/field"
)

// TestRowVersionTenantChange: the application moves a row to another
// tenant between a batch's read and its write, leaving the source as it
// was. The row's value must end up sealed for its new tenant: a
// compare-and-set on the source alone would write the old tenant's
// ciphertext, which the application could then not open.
func TestRowVersionTenantChange(t *testing.T) {
	e := newEnv(t, dialectPostgres)
	e.createUsers(300)
	// The row moves to another tenant of the batch: one whose key the
	// batch already holds (a batch that meets a key it must load starts
	// over, reading every row anew).
	var moved int64
	var to string
	var once sync.Once
	testHookBeforeWrite = func(ws []write) error {
		once.Do(func() {
			moved, _ = strconv.ParseInt(ws[2].r.pkText, 10, 64)
			to = tenantOfID(moved + 1)
			e.exec("UPDATE users SET tenant = $1 WHERE id = $2", to, moved)
		})
		return nil
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 100})
	if res.Rereads != 1 || res.Left != 0 {
		t.Errorf("Run = %+v, want the moved row re-read once and nothing left", res)
	}
	for _, r := range e.rawColumn("users", "email_enc") {
		if r.id != moved {
			continue
		}
		want, _ := emailOf(r.id)
		if r.tenant != to {
			t.Fatalf("row %d: tenant %q, want %q", r.id, r.tenant, to)
		}
		if pt, err := e.open(to, "email_enc", r.v); err != nil || string(pt) != want {
			t.Fatalf("row %d: Open under its new tenant = %q, %v; want %q", r.id, pt, err, want)
		}
		return
	}
	t.Fatalf("row %d not found", moved)
}

// TestRowVersionSameValueRewrite: an application UPDATE that writes the
// row's own values again still makes a new row version. The batch's
// compare-and-set loses, the row is read again and sealed: a re-read, not
// a wrong or lost write.
func TestRowVersionSameValueRewrite(t *testing.T) {
	e := newEnv(t, dialectPostgres)
	e.createUsers(200)
	var once sync.Once
	testHookBeforeWrite = func(ws []write) error {
		once.Do(func() { e.exec("UPDATE users SET email = email WHERE id = $1", ws[0].r.pk) })
		return nil
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 50})
	if res.Rereads != 1 || res.Left != 0 {
		t.Errorf("Run = %+v, want one re-read and nothing left", res)
	}
	e.checkEncrypted("email_enc", emailOf)
}

// TestRowVersionTupleIDsOverlap migrates tables whose rows live in
// several heaps, each loaded by one statement: partitions and inheritance
// children, whose tuple ids (ctid) repeat from heap to heap with the same
// xmin. A write that found rows by tuple id and xmin alone would also
// write a row of another heap; every row must get its own value, with an
// application write and a re-read in between.
func TestRowVersionTupleIDsOverlap(t *testing.T) {
	cases := []struct {
		name string
		ddl  []string
	}{
		{"partitioned", []string{
			"CREATE TABLE users (id bigint PRIMARY KEY, tenant text, email text, email_enc bytea) PARTITION BY RANGE (id)",
			"CREATE TABLE users_a PARTITION OF users FOR VALUES FROM (MINVALUE) TO (201)",
			"CREATE TABLE users_b PARTITION OF users FOR VALUES FROM (201) TO (MAXVALUE)",
		}},
		{"inheritance", []string{
			"CREATE TABLE users (id bigint PRIMARY KEY, tenant text, email text, email_enc bytea)",
			"CREATE TABLE users_child () INHERITS (users)",
			"CREATE TABLE users_grandchild () INHERITS (users_child)",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dialectPostgres)
			for _, q := range tc.ddl {
				e.exec(q)
			}
			insert := "INSERT INTO %s (id, tenant, email) SELECT x, (ARRAY['acme','globex','initech'])[x %% 3 + 1], 'user' || x || '@Example.com' FROM generate_series(%d, %d) AS g(x)"
			if tc.name == "partitioned" {
				e.exec(fmt.Sprintf(insert, "users", 1, 400))
			} else {
				// One transaction, so the three heaps' tuples share
				// their xmin too.
				tx, err := e.db.Begin()
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{fmt.Sprintf(insert, "users", 1, 150), fmt.Sprintf(insert, "users_child", 151, 300), fmt.Sprintf(insert, "users_grandchild", 301, 400)} {
					if _, err := tx.Exec(q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			var heaps int
			if err := e.db.QueryRow(`SELECT count(DISTINCT tableoid) FROM users WHERE ctid = '(0,1)'`).Scan(&heaps); err != nil || heaps < 2 {
				t.Fatalf("%d heaps with a tuple (0,1), %v; the test needs overlapping tuple ids", heaps, err)
			}
			var once sync.Once
			testHookBeforeWrite = func(ws []write) error {
				once.Do(func() { e.exec("UPDATE users SET email = email || '.changed' WHERE id = $1", ws[1].r.pk) })
				return nil
			}
			t.Cleanup(func() { testHookBeforeWrite = nil })
			res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 120, Workers: 2})
			if res.Updated != 400 || res.Rereads != 1 || res.Left != 0 {
				t.Errorf("Run = %+v, want 400 rows updated, one re-read", res)
			}
			ctx := context.Background()
			rows, err := e.db.Query(`SELECT id, tenant, email, email_enc FROM users ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var tenant, email string
				var sealed []byte
				if err := rows.Scan(&id, &tenant, &email, &sealed); err != nil {
					t.Fatal(err)
				}
				pt, err := e.enc.Open(ctx, field.Scope{Tenant: tenant, Table: "users", Column: "email_enc"}, sealed)
				if err != nil || string(pt) != email {
					t.Errorf("row %d: Open(email_enc) = %q, %v; want %q", id, pt, err, email)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
