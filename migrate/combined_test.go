package migrate

import (
	"context"
	"strconv"
	"testing"
)

// TestMultiColumnOneWritePerBatch: a two-column job writes both columns
// of a batch in one pass (one row version per row, not one per column):
// the write hook, which runs once before each compare-and-set write, runs
// once per batch and sees both columns' writes. Postgres writes them in
// one statement, MySQL and SQLite in one UPDATE per row.
func TestMultiColumnOneWritePerBatch(t *testing.T) {
	const n, batch = 1000, 100
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			calls, values := 0, 0
			testHookBeforeWrite = func(ws []write) error {
				calls++
				values += len(ws)
				return nil
			}
			t.Cleanup(func() { testHookBeforeWrite = nil })
			job := Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant", Also: []ColumnPair{{Column: "raw"}}}
			res := mustRun(t, e.m, job, RunOptions{BatchSize: batch, Workers: 1})
			if calls != n/batch || int64(values) != res.Updated {
				t.Fatalf("%d writes of %d values for %d batches, %d values updated; want one write a batch", calls, values, n/batch, res.Updated)
			}
			e.checkEncrypted("email", emailOf)
			e.checkEncrypted("raw", emailOf)
		})
	}
}

// TestMultiColumnCompareAndSetPerColumn: the application writes one
// column of a row between a two-column batch's read and its write. That
// column keeps the application's value (re-read and then sealed), and
// the row's other column is sealed too. On MySQL each column has its own
// compare-and-set, so only the changed column is re-read; on Postgres the
// compare-and-set is on the row version, so the row is re-read for both
// columns. (SQLite's batch holds the write
// lock: no write can come in between.)
func TestMultiColumnCompareAndSetPerColumn(t *testing.T) {
	const app = "written-by-the-app@example.org"
	for _, dc := range dialects {
		if dc.d == dialectSQLite {
			continue
		}
		for _, col := range []string{"email", "raw"} {
			t.Run(dc.name+"/"+col, func(t *testing.T) {
				e := newEnv(t, dc.d)
				e.createUsers(300)
				var changed int64
				testHookBeforeWrite = func(ws []write) error {
					if changed == 0 {
						changed, _ = strconv.ParseInt(ws[0].r.pkText, 10, 64)
						e.exec(rebind(dc.d, "UPDATE users SET "+col+" = ? WHERE id = ?"), []byte(app), ws[0].r.pk)
					}
					return nil
				}
				t.Cleanup(func() { testHookBeforeWrite = nil })
				job := Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant", Also: []ColumnPair{{Column: "raw"}}}
				res := mustRun(t, e.m, job, RunOptions{BatchSize: 100, Workers: 1})
				if res.Conflicts != 0 || res.Left != 0 {
					t.Fatalf("Run = %+v, want nothing left", res)
				}
				if dc.d == dialectPostgres && res.Rereads != 2 {
					t.Errorf("Run = %+v, want the row re-read for both columns", res)
				}
				want := func(c string) func(int64) (string, bool) {
					return func(id int64) (string, bool) {
						if id == changed && c == col {
							return app, true
						}
						return emailOf(id)
					}
				}
				e.checkEncrypted("email", want("email"))
				e.checkEncrypted("raw", want("raw"))
			})
		}
	}
}

// TestMultiColumnBlindIndex: a two-column job whose first column goes to
// a new column with a blind index writes the index with it (on Postgres
// in the same combined UPDATE) and leaves every value verifiable.
func TestMultiColumnBlindIndex(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(700)
			bidx := lowerBidx(t)
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", BlindIndex: bidx,
				Also: []ColumnPair{{Column: "raw"}}}
			res := mustRun(t, e.m, job, RunOptions{BatchSize: 100, Workers: 2})
			e.checkEncrypted("email_enc", emailOf)
			e.checkEncrypted("raw", emailOf)
			rep, err := e.m.Verify(context.Background(), Job{Table: "users", Column: "email_enc", TenantColumn: "tenant", BlindIndex: bidx}, RunOptions{})
			if err != nil || rep.Failed != 0 || rep.Plaintext != 0 || rep.BlindIndexMismatch != 0 || 2*rep.Encrypted != res.Updated {
				t.Fatalf("Verify = %+v, %v after Run = %+v; want every value and index right", rep, err, res)
			}
		})
	}
}
