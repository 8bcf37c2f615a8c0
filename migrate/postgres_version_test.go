package migrate

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/field"
)

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

// TestRowVersionPartitionsAndInheritance migrates tables whose rows live
// in several heaps, each loaded by one statement (one xmin for all):
// partitions and inheritance children. The row versions the batches
// compare carry each heap's tableoid; every row must get its own value,
// with an application write and a re-read in between.
func TestRowVersionPartitionsAndInheritance(t *testing.T) {
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
			if err := e.db.QueryRow(`SELECT count(DISTINCT tableoid) FROM users`).Scan(&heaps); err != nil || heaps < 2 {
				t.Fatalf("rows in %d heaps, %v; the test needs several", heaps, err)
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
