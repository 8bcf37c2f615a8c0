package migrate

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

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

// TestRowVersionWriterCommitsWhileUpdateWaits: an application transaction
// updates a row after the batch read it and commits only once the batch's
// UPDATE is waiting on its row lock. Postgres then re-checks the
// UPDATE's WHERE on the committed version, whose xmin differs: the batch
// must leave the application's value, re-read the row and seal that,
// never write the value it read over it. A second writer that rolls back
// changes nothing: its row is sealed at the first try.
func TestRowVersionWriterCommitsWhileUpdateWaits(t *testing.T) {
	e := newEnv(t, dialectPostgres)
	e.createUsers(200)
	ctx := context.Background()
	var (
		once            sync.Once
		changed, rolled int64
		committed       = make(chan error, 1)
	)
	testHookBeforeWrite = func(ws []write) error {
		once.Do(func() {
			changed, _ = strconv.ParseInt(ws[0].r.pkText, 10, 64)
			rolled, _ = strconv.ParseInt(ws[1].r.pkText, 10, 64)
			rb, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := rb.Exec("UPDATE users SET email = 'rolled-back@example.org' WHERE id = $1", rolled); err != nil {
				t.Error(err)
			}
			if err := rb.Rollback(); err != nil {
				t.Error(err)
			}
			tx, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			var pid int
			if err := tx.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Error(err)
			}
			if _, err := tx.Exec("UPDATE users SET email = email || '.changed' WHERE id = $1", changed); err != nil {
				t.Error(err)
			}
			go func() {
				// Commit once some backend waits on this transaction: the
				// batch's UPDATE, blocked on the row lock.
				for range 3000 {
					var n int
					if err := e.db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))", pid).Scan(&n); err != nil || n > 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				committed <- tx.Commit()
			}()
		})
		return nil
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 50})
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if res.Rereads != 1 || res.Left != 0 || res.Conflicts != 0 {
		t.Errorf("Run = %+v, want one re-read (the committed writer's row) and nothing left", res)
	}
	e.checkEncrypted("email_enc", func(id int64) (string, bool) {
		v, ok := emailOf(id)
		if id == changed && ok {
			return v + ".changed", true
		}
		return v, ok
	})
	if rolled == 0 || changed == 0 {
		t.Fatal("the hook did not run")
	}
}
