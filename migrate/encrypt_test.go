package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/testhelpers"
)

func lowerBidx(t testing.TB) *field.BlindIndex {
	b, err := field.NewBlindIndex("email_bidx", 0, "lower")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncrypt(t *testing.T) {
	const n = 2500
	var nulls, nonNull int64
	for id := int64(1); id <= n; id++ {
		if _, ok := emailOf(id); ok {
			nonNull++
		} else {
			nulls++
		}
	}
	cases := []struct {
		name string
		job  Job
		// col holds the ciphertext afterwards; want gives its plaintext.
		col   string
		want  func(id int64) (string, bool)
		setup func(e *env)
		check func(t *testing.T, e *env)
	}{
		{
			name: "new column with blind index",
			job:  Job{Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", BlindIndex: lowerBidx(t)},
			col:  "email_enc", want: emailOf,
			check: func(t *testing.T, e *env) {
				// The source is left for the user to drop.
				var want int64
				for id := int64(1); id <= n; id++ {
					if v, _ := emailOf(id); v != "" {
						want++
					}
				}
				if got := e.count("users", "email LIKE 'user%'"); got != want {
					t.Errorf("plaintext rows left in email = %d, want all %d untouched", got, want)
				}
				// The blind index finds a row the way the application
				// will look it up.
				ctx := context.Background()
				s := field.Scope{Tenant: tenantOfID(42), Table: "users", Column: "email_enc"}
				cands, err := e.enc.BlindIndexCandidates(ctx, s, lowerBidx(t), []byte("USER42@example.COM"))
				if err != nil || len(cands) != 1 {
					t.Fatalf("BlindIndexCandidates = %d, %v", len(cands), err)
				}
				var stored []byte
				if err := e.db.QueryRow("SELECT email_bidx FROM users WHERE id = 42").Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(stored, cands[0]) {
					t.Errorf("email_bidx of row 42 = %x, want %x", stored, cands[0])
				}
			},
		},
		{
			name: "in place, text column gets armor",
			job:  Job{Column: "email", TenantColumn: "tenant"},
			col:  "email", want: emailOf,
			check: func(t *testing.T, e *env) {
				var v string
				if err := e.db.QueryRow("SELECT email FROM users WHERE id = 1").Scan(&v); err != nil {
					t.Fatal(err)
				}
				if !codec.IsArmored([]byte(v)) {
					t.Errorf("email of row 1 = %q, want text armor", v)
				}
			},
		},
		{
			name: "in place, binary column",
			job:  Job{Column: "raw", TenantColumn: "tenant"},
			col:  "raw", want: emailOf,
			check: func(t *testing.T, e *env) {
				var v []byte
				if err := e.db.QueryRow("SELECT raw FROM users WHERE id = 1").Scan(&v); err != nil {
					t.Fatal(err)
				}
				if !codec.IsValue(v) {
					t.Errorf("raw of row 1 = %x, want a binary value", v)
				}
			},
		},
		{
			name: "deterministic",
			job:  Job{Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", Mode: field.Deterministic},
			col:  "email_enc", want: emailOf,
			check: func(t *testing.T, e *env) {
				var v []byte
				if err := e.db.QueryRow("SELECT email_enc FROM users WHERE id = 1").Scan(&v); err != nil {
					t.Fatal(err)
				}
				want, err := e.enc.SealDeterministic(context.Background(), field.Scope{Tenant: tenantOfID(1), Table: "users", Column: "email_enc"}, []byte("user1@Example.com"))
				if err != nil || !bytes.Equal(v, want) {
					t.Errorf("email_enc of row 1 = %x, want the deterministic value %x (%v)", v, want, err)
				}
			},
		},
		{
			name:  "fixed tenant",
			job:   Job{Column: "email", ToColumn: "email_enc", Tenant: "solo"},
			setup: func(e *env) { e.exec("UPDATE users SET tenant = 'solo'") },
			col:   "email_enc", want: emailOf,
		},
		{
			name: "integer column into a new column",
			job:  Job{Column: "n", ToColumn: "email_enc", TenantColumn: "tenant"},
			col:  "email_enc",
			want: func(id int64) (string, bool) { return strconv.FormatInt(id, 10), true },
		},
	}
	for _, dc := range dialects {
		for _, tc := range cases {
			t.Run(dc.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t, dc.d)
				e.createUsers(n)
				if tc.setup != nil {
					tc.setup(e)
				}
				job := tc.job
				job.Kind, job.Table = Encrypt, "users"
				o := RunOptions{BatchSize: 100, Workers: 2}
				res := mustRun(t, e.m, job, o)
				wantUpdated := nonNull
				if job.Column == "n" {
					wantUpdated = n
				}
				if !res.Done || res.Scanned != n || res.Updated != wantUpdated || res.Updated+res.Null != n || res.Failed != 0 {
					t.Errorf("Run = %+v, want done, %d scanned, %d updated", res, n, wantUpdated)
				}
				e.checkEncrypted(tc.col, tc.want)
				if tc.check != nil {
					tc.check(t, e)
				}

				// Idempotent: a second pass finds nothing to do.
				o.Restart = true
				res = mustRun(t, e.m, job, o)
				if res.Updated != 0 || res.Skipped != wantUpdated {
					t.Errorf("second Run = %+v, want 0 updated, %d skipped", res, wantUpdated)
				}
				e.checkEncrypted(tc.col, tc.want)

				vjob := Job{Table: "users", Column: tc.col, TenantColumn: job.TenantColumn, Tenant: job.Tenant, BlindIndex: job.BlindIndex}
				rep, err := e.m.Verify(context.Background(), vjob, RunOptions{BatchSize: 300})
				if err != nil || rep.Encrypted != wantUpdated || rep.Failed != 0 || rep.Plaintext != 0 || rep.Rows != n {
					t.Errorf("Verify = %+v, %v; want %d encrypted, nothing failing", rep, err, wantUpdated)
				}
			})
		}
	}
}

// TestEncrypt100k is the size check: 100,000 rows (20,000 on MySQL) migrated, every
// row decrypting to its old value and no plaintext left in the column.
func TestEncrypt100k(t *testing.T) {
	for _, dc := range dialects {
		n := int64(100_000)
		if dc.d == dialectMySQL {
			n = 20_000 // InnoDB's per-row locking writes are slower; keep the run short
		}
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(int(n))
			start := time.Now()
			res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"},
				RunOptions{BatchSize: 1000, Workers: 2})
			d := time.Since(start)
			t.Logf("%s: %d rows in %v (%.0f rows/s)", dc.name, res.Scanned, d, float64(res.Scanned)/d.Seconds())
			if !res.Done || res.Scanned != n || res.Failed != 0 || res.Updated+res.Null != n {
				t.Fatalf("Run = %+v", res)
			}
			e.checkEncrypted("email_enc", emailOf)
			// No sampled plaintext, raw or in hex or base64, in any row.
			var sample []string
			for id := int64(1); id <= n; id += 4999 {
				if v, ok := emailOf(id); ok {
					sample = append(sample, v)
				}
			}
			testhelpers.AssertNoPlaintext(t, e.db, "users", "email_enc", sample...)
			if got := e.count("users", "email IS NOT NULL AND email_enc IS NULL"); got != 0 {
				t.Errorf("%d rows with an email but no email_enc", got)
			}
		})
	}
}

// TestConcurrentAppWrites runs an in-place migration while the application
// keeps writing rows through its encrypted path; no application write may
// be lost to the migration's write.
//
// After each batch the migration waits for the application to make two
// more writes, so writes land between (and, on Postgres, during) batches
// however the scheduler runs the goroutines. On Postgres the writers run
// freely, racing the batches; on SQLite, which has one writer, each write
// takes a turn handed out by the progress callback.
func TestConcurrentAppWrites(t *testing.T) {
	const n = 20_000
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			ctx, stop := context.WithCancel(context.Background())
			var (
				mu     sync.Mutex
				latest = map[int64]string{}
				writes atomic.Int64
				wg     sync.WaitGroup
				appErr atomic.Value
				turns  chan struct{} // SQLite: one write per token
			)
			if dc.d == dialectSQLite {
				turns = make(chan struct{}, 2)
			}
			// Two writers, each on its own half of the rows, so the order of
			// each row's writes is known.
			for g := range 2 {
				wg.Go(func() {
					rnd := rand.New(rand.NewPCG(uint64(g), 7))
					bg := context.Background()
					for i := 0; ; i++ {
						if turns != nil {
							select {
							case <-turns:
							case <-ctx.Done():
								return
							}
						} else if ctx.Err() != nil {
							return
						}
						id := rnd.Int64N(n/2)*2 + int64(g) + 1
						v := fmt.Sprintf("app%d-%d@example.org", id, i)
						sealed, err := e.enc.Seal(bg, field.Scope{Tenant: tenantOfID(id), Table: "users", Column: "email"}, []byte(v))
						if err != nil {
							appErr.Store(err)
							return
						}
						q := "UPDATE users SET email = " + dc.d.ph(1) + " WHERE id = " + dc.d.ph(2)
						if _, err := e.db.ExecContext(bg, q, string(codec.Armor(nil, sealed)), id); err != nil {
							appErr.Store(err)
							return
						}
						mu.Lock()
						latest[id] = v
						mu.Unlock()
						writes.Add(1)
					}
				})
			}
			batches := 0
			o := RunOptions{BatchSize: 200, Workers: 2, Progress: func(Progress) {
				batches++
				target := writes.Load() + 2
				if turns != nil {
					turns <- struct{}{}
					turns <- struct{}{}
				}
				for writes.Load() < target && appErr.Load() == nil {
					time.Sleep(50 * time.Microsecond)
				}
			}}
			if dc.d == dialectSQLite {
				o.Workers = 1
			}
			res, err := e.m.Run(context.Background(), Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, o)
			stop()
			wg.Wait()
			if err, _ := appErr.Load().(error); err != nil {
				t.Fatalf("application write: %v", err)
			}
			if err != nil {
				t.Fatalf("Run = %+v, %v", res, err)
			}
			t.Logf("%d application writes, %d batches; result %+v", writes.Load(), batches, res)
			if writes.Load() < int64(2*batches) || batches < 10 {
				t.Fatalf("%d application writes in %d batches, want at least two per batch", writes.Load(), batches)
			}
			e.checkEncrypted("email", func(id int64) (string, bool) {
				if v, ok := latest[id]; ok {
					return v, true
				}
				return emailOf(id)
			})
		})
	}
}

// TestCompareAndSetLost makes the application write a row between the
// batch's read and its write: the migration must leave the application's
// value, re-read the row, and see it needs nothing.
func TestCompareAndSetLost(t *testing.T) {
	e := newEnv(t, dialectPostgres)
	e.createUsers(500)
	ctx := context.Background()
	appValue := "written-by-the-app@example.org"
	var once sync.Once
	testHookBeforeWrite = func(ws []write) error {
		once.Do(func() {
			id, _ := strconv.ParseInt(ws[3].r.pkText, 10, 64)
			sealed, err := e.enc.Seal(ctx, field.Scope{Tenant: tenantOfID(id), Table: "users", Column: "email"}, []byte(appValue))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := e.db.Exec("UPDATE users SET email = $1 WHERE id = $2", string(codec.Armor(nil, sealed)), id); err != nil {
				t.Error(err)
			}
			t.Logf("application wrote row %d", id)
		})
		return nil
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{BatchSize: 100})
	var nonNull int64
	for id := int64(1); id <= 500; id++ {
		if _, ok := emailOf(id); ok {
			nonNull++
		}
	}
	if res.Updated != nonNull-1 || res.Skipped != 1 || res.Conflicts != 0 {
		t.Errorf("Run = %+v, want %d updated and the application's row skipped", res, nonNull-1)
	}
	e.checkEncrypted("email", func(id int64) (string, bool) {
		if id == 4 {
			return appValue, true
		}
		return emailOf(id)
	})
}

// TestTenantChangedDuringBatch: the application moves a row to another
// tenant between a batch's read and its write, leaving the source as it
// was. The row's value must end up sealed for its new tenant: a
// compare-and-set on the source alone would write the old tenant's
// ciphertext, which the application could then not open. (SQLite's
// batch holds the write lock: no write can come in between.)
func TestTenantChangedDuringBatch(t *testing.T) {
	for _, dc := range dialects {
		if dc.d == dialectSQLite {
			continue
		}
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(300)
			// The row moves to another tenant of the batch, whose key the
			// batch already holds (a batch that meets a key it must load
			// starts over, reading every row anew).
			var moved int64
			var to string
			var once sync.Once
			testHookBeforeWrite = func(ws []write) error {
				once.Do(func() {
					moved, _ = strconv.ParseInt(ws[2].r.pkText, 10, 64)
					to = tenantOfID(moved + 1)
					e.exec(rebind(dc.d, "UPDATE users SET tenant = ? WHERE id = ?"), to, moved)
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
		})
	}
}

// mysqlDigits is a derived table of the digits 0-9 (MySQL caps recursive
// CTEs at 1000 rows by default).
const mysqlDigits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"

// TestKeyTypes pages tables by keys of other types than integers.
func TestKeyTypes(t *testing.T) {
	cases := []struct {
		name    string
		d       dialect
		keyType string
		keyExpr string // of x, the row number
	}{
		{"postgres/text", dialectPostgres, "text", "'k' || lpad(x::text, 6, '0')"},
		{"postgres/uuid", dialectPostgres, "uuid", "md5(x::text)::uuid"},
		{"postgres/varchar", dialectPostgres, "varchar(32)", "'row-' || x"},
		{"sqlite/text", dialectSQLite, "TEXT", "'row-' || x"},
		// A case-insensitive collation orders 'Row-10' and 'row-9' unlike
		// bytes do; keyset pages must follow the collation.
		{"mysql/varchar_ci", dialectMySQL, "varchar(32) COLLATE utf8mb4_general_ci", "CONCAT(IF(x % 2 = 0, 'Row-', 'row-'), x)"},
		// Above 2^53: compared as doubles, neighbours would collide.
		{"mysql/bigint_unsigned", dialectMySQL, "bigint unsigned", "18446744073709551615 - x"},
		{"mysql/datetime", dialectMySQL, "datetime(6)", "TIMESTAMP('2024-01-01') + INTERVAL x * 1001 MICROSECOND"},
		{"mysql/varbinary", dialectMySQL, "varbinary(16)", "UNHEX(CONCAT(LPAD(HEX(x), 6, '0'), 'ff00'))"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.d)
			e.exec("CREATE TABLE items (k " + tc.keyType + " PRIMARY KEY, id bigint, tenant text, email text, email_enc " + e.typ("bytea") + ")")
			switch tc.d {
			case dialectPostgres:
				e.exec("INSERT INTO items SELECT " + tc.keyExpr + ", x, 'acme', 'user' || x || '@Example.com' FROM generate_series(1, 3000) AS g(x)")
			case dialectMySQL:
				e.exec("INSERT INTO items (k, id, tenant, email) SELECT " + tc.keyExpr + ", x, 'acme', CONCAT('user', x, '@Example.com') FROM (" +
					"SELECT a.d + 10 * b.d + 100 * c.d + 1000 * f.d + 1 AS x FROM " + mysqlDigits + " a, " + mysqlDigits + " b, " + mysqlDigits + " c, " + mysqlDigits + " f) g WHERE x <= 3000")
			default:
				e.exec("INSERT INTO items (k, id, tenant, email) WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 3000) SELECT " + tc.keyExpr + ", x, 'acme', 'user' || x || '@Example.com' FROM g")
			}
			res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "items", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 70, Workers: 3})
			if res.Updated != 3000 || res.Scanned != 3000 {
				t.Fatalf("Run = %+v, want 3000 rows updated once each", res)
			}
			rows := e.rawColumn("items", "email_enc")
			for _, r := range rows {
				pt, err := e.enc.Open(context.Background(), field.Scope{Tenant: "acme", Table: "items", Column: "email_enc"}, r.v)
				if want := fmt.Sprintf("user%d@Example.com", r.id); err != nil || string(pt) != want {
					t.Fatalf("row %d: Open = %q, %v; want %q", r.id, pt, err, want)
				}
			}
		})
	}
}

func TestManyWorkersExactlyOnce(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(6000)
			// Several Runs at once, as several processes would run one job.
			var wg sync.WaitGroup
			results := make([]*Result, 3)
			errs := make([]error, 3)
			for i := range results {
				wg.Go(func() {
					results[i], errs[i] = e.m.Run(context.Background(), Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"},
						RunOptions{BatchSize: 50, Workers: 2})
				})
			}
			wg.Wait()
			var thisRun int64
			for i := range results {
				if errs[i] != nil {
					t.Fatalf("Run %d = %v", i, errs[i])
				}
				thisRun += results[i].ThisRun
			}
			last := results[0]
			if last.Scanned != 6000 || thisRun != 6000 || last.Updated+last.Null != 6000 || last.Skipped != 0 {
				t.Errorf("Runs scanned %d rows between them, job totals %+v; want every row exactly once", thisRun, last)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}

// TestDeadlockRetried makes a batch deadlock with an application
// transaction that locks two of its rows in the opposite order. Postgres
// aborts one of them; the job finishes either way and every row's
// ciphertext matches its current plaintext. (Which one Postgres picks
// depends on timing; TestRetryableBatchError covers the retry itself.)
func TestDeadlockRetried(t *testing.T) {
	e := newEnv(t, dialectPostgres)
	e.createUsers(300)
	ctx := context.Background()
	// The batch's sessions check for deadlocks soon, the application's
	// late: the batch is meant to be the victim.
	e.exec("ALTER DATABASE " + currentDB(t, e) + " SET deadlock_timeout = '200ms'")
	e.db.SetMaxIdleConns(0) // drop pooled sessions from before the setting
	e.db.SetMaxIdleConns(2)

	appDone := make(chan error, 1)
	var once sync.Once
	testHookBeforeWrite = func(ws []write) error {
		once.Do(func() {
			a, _ := strconv.ParseInt(ws[0].r.pkText, 10, 64)
			b, _ := strconv.ParseInt(ws[1].r.pkText, 10, 64)
			app, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			// The application holds row b, then wants row a, which the
			// batch's UPDATE locks before it waits for b.
			for _, q := range []string{"SET LOCAL deadlock_timeout = '20s'", "UPDATE users SET email = 'app-b@example.org' WHERE id = " + itoa(b)} {
				if _, err := app.Exec(q); err != nil {
					t.Error(err)
					return
				}
			}
			go func() {
				time.Sleep(30 * time.Millisecond)
				if _, err := app.Exec("UPDATE users SET email = 'app-a@example.org' WHERE id = $1", a); err != nil {
					app.Rollback()
					appDone <- err
					return
				}
				appDone <- app.Commit()
			}()
		})
		return nil
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	res, err := e.m.Run(ctx, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 50})
	if err != nil {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if appErr := <-appDone; appErr == nil {
		t.Logf("the batch lost the deadlock and ran again")
	} else {
		t.Logf("the application lost the deadlock: %v", appErr)
	}
	emails := e.rawColumn("users", "email")
	for i, r := range e.rawColumn("users", "email_enc") {
		if !emails[i].valid {
			continue
		}
		if pt, err := e.open(r.tenant, "email_enc", r.v); err != nil || string(pt) != string(emails[i].v) {
			t.Errorf("row %d: email_enc opens to %q, %v; email is %q", r.id, pt, err, emails[i].v)
		}
	}
}

// TestRetryableBatchError fails a batch with a deadlock error: it runs
// again, and every row is still migrated exactly once.
func TestRetryableBatchError(t *testing.T) {
	e := newEnv(t, dialectPostgres)
	e.createUsers(1000)
	failures := 0
	testHookBeforeWrite = func([]write) error {
		if failures < 3 {
			failures++
			return fmt.Errorf("migrate: update users: %w", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"})
		}
		return nil
	}
	t.Cleanup(func() { testHookBeforeWrite = nil })
	res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 100})
	if failures != 3 || res.Scanned != 1000 || res.Updated+res.Null != 1000 || res.Skipped != 0 {
		t.Errorf("Run = %+v after %d injected deadlocks; want every row once", res, failures)
	}
	e.checkEncrypted("email_enc", emailOf)

	// Errors that are not transient stop the job.
	testHookBeforeWrite = func([]write) error { return &pgconn.PgError{Code: "42501", Message: "permission denied"} }
	_, err := e.m.Run(context.Background(), Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("Run with a permanent error = %v, want it returned", err)
	}
}

func currentDB(t testing.TB, e *env) string {
	var name string
	if err := e.db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}
