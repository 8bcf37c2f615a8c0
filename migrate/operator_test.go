package migrate

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// Tests of what an operator meets around a job: a rerun of a finished
// job, a recreated table, liveness and failure in Status, Forget, the
// checks a dry run makes, the counters, an older checkpoint table.

// TestRerunAfterDecryptRechecks: encrypt, decrypt, encrypt again. The
// second encrypt finds the first one done in the checkpoint; it must not
// say "done" over the now plaintext column, but re-check it and name
// Restart. With Restart the column is encrypted again; a rerun after that
// re-checks and finds nothing to do.
func TestRerunAfterDecryptRechecks(t *testing.T) {
	const n = 600
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			ctx := context.Background()
			enc := Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}
			mustRun(t, e.m, enc, RunOptions{BatchSize: 100})
			mustRun(t, e.m, Job{Kind: Decrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{BatchSize: 100})

			res, err := e.m.Run(ctx, enc, RunOptions{BatchSize: 100})
			var fe *finishedJobError
			if !errors.Is(err, errFinishedJobHasWork) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "--restart") {
				t.Fatalf("Run(encrypt) after decrypt = %+v, %v; want ErrFinishedJobHasWork naming --restart", res, err)
			}
			if rc := res.Recheck; rc == nil || rc.Scanned != n || rc.Updated == 0 {
				t.Fatalf("Run(encrypt) after decrypt: Recheck = %+v, want %d rows checked and plaintext pending", rc, n)
			}
			if got := e.count("users", "email LIKE 'user%'"); got == 0 {
				t.Fatalf("the re-check wrote: %d plaintext rows left", got)
			}

			res = mustRun(t, e.m, enc, RunOptions{BatchSize: 100, Restart: true})
			if !res.Done || res.ThisRun != n {
				t.Fatalf("Run(encrypt, Restart) = %+v, want all %d rows", res, n)
			}
			e.checkEncrypted("email", emailOf)

			res = mustRun(t, e.m, enc, RunOptions{BatchSize: 100})
			if rc := res.Recheck; rc == nil || rc.Scanned != n || rc.Updated != 0 || !res.Done {
				t.Fatalf("Run of the finished job = %+v (recheck %+v), want %d rows checked, 0 pending", res, res.Recheck, n)
			}
		})
	}
}

// TestRecreatedTableIsNewJob: a table dropped and created again under the
// same name is a new job, not one the checkpoint records as done. SQLite
// may give the new table the old one's root page; there the re-check
// still refuses to call it done.
func TestRecreatedTableIsNewJob(t *testing.T) {
	const n = 400
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			mustRun(t, e.m, job, RunOptions{BatchSize: 100})
			e.exec("DROP TABLE users")
			e.createUsers(n)

			res, err := e.m.Run(context.Background(), job, RunOptions{BatchSize: 100})
			if dc.d == dialectSQLite && errors.Is(err, errFinishedJobHasWork) {
				t.Logf("sqlite: same root page, re-check found the plaintext: %v", err)
				res = mustRun(t, e.m, job, RunOptions{BatchSize: 100, Restart: true})
			} else if err != nil {
				t.Fatalf("Run on the recreated table = %+v, %v", res, err)
			}
			if !res.Done || res.ThisRun != n || res.Recheck != nil {
				t.Fatalf("Run on the recreated table = %+v, want a new job over all %d rows", res, n)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}

// TestStatusLiveness: while a batch runs, Status says running with this
// process as owner and a fresh heartbeat; a run stopped by an error that
// is not about one row leaves the job failed with that error; a running
// job without a heartbeat (its process killed) is stalled; and a rerun
// resumes a failed job.
func TestStatusLiveness(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(500)
			ctx := context.Background()
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			host, _ := os.Hostname()
			owner := host + ":" + strconv.Itoa(os.Getpid())
			errStop := errors.New("test: the database went away")
			calls := 0
			testHookBeforeWrite = func([]write) error {
				calls++
				if calls == 1 {
					st, err := e.m.Status(ctx, job.defaultID())
					if err != nil || st.State != "running" || st.Owner != owner || time.Since(st.Heartbeat) > time.Minute {
						t.Errorf("Status during a batch = %+v, %v; want running, owner %s, a fresh heartbeat", st, err, owner)
					}
					if err := e.m.Forget(ctx, job.defaultID()); !errors.Is(err, ErrJobRunning) {
						t.Errorf("Forget of a running job = %v, want ErrJobRunning", err)
					}
					return nil
				}
				return errStop
			}
			t.Cleanup(func() { testHookBeforeWrite = nil })
			_, err := e.m.Run(ctx, job, RunOptions{BatchSize: 50})
			if !errors.Is(err, errStop) {
				t.Fatalf("Run = %v, want the hook's error", err)
			}
			testHookBeforeWrite = nil
			st, err := e.m.Status(ctx, job.defaultID())
			if err != nil || st.State != "failed" || !strings.Contains(st.Error, errStop.Error()) {
				t.Fatalf("Status after a failed run = %+v, %v; want failed with the error", st, err)
			}

			// A process killed mid-run leaves state running and an old
			// heartbeat.
			e.exec(rebind(dc.d, "UPDATE "+defaultCheckpointTable+" SET state = 'running', heartbeat_at = ? WHERE chunk = 0"), e.d.timeArg(time.Now().Add(-time.Hour)))
			if st, err := e.m.Status(ctx, job.defaultID()); err != nil || st.State != "stalled" {
				t.Fatalf("Status after the owner died = %+v, %v; want stalled", st, err)
			}

			res := mustRun(t, e.m, job, RunOptions{BatchSize: 50})
			if !res.Done || res.Updated+res.Null != 500 {
				t.Fatalf("Run after the failure = %+v, want the job finished", res)
			}
			if st, err := e.m.Status(ctx, job.defaultID()); err != nil || st.State != "done" || st.Error != "" {
				t.Fatalf("Status after finishing = %+v, %v; want done", st, err)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}

// TestForget removes a job's header and chunk rows, so the job plans
// afresh; and chunk rows left without a header (deleted by hand) do not
// break the next run.
func TestForget(t *testing.T) {
	const n = 2000
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			e.interrupt(job, n/4)
			if err := e.m.Forget(context.Background(), job.defaultID()); err != nil {
				t.Fatalf("Forget = %v", err)
			}
			if left := e.count(defaultCheckpointTable, "1 = 1"); left != 0 {
				t.Fatalf("Forget left %d checkpoint rows", left)
			}
			if _, err := e.m.Status(context.Background(), job.defaultID()); !errors.Is(err, ErrNoJob) {
				t.Fatalf("Status after Forget = %v, want ErrNoJob", err)
			}
			if err := e.m.Forget(context.Background(), job.defaultID()); !errors.Is(err, ErrNoJob) {
				t.Fatalf("Forget twice = %v, want ErrNoJob", err)
			}
			res := mustRun(t, e.m, job, RunOptions{BatchSize: 100})
			if !res.Done || res.Scanned != n || res.Updated+res.Skipped+res.Null != n {
				t.Fatalf("Run after Forget = %+v, want a fresh job over %d rows", res, n)
			}

			// The header deleted by hand, chunk rows left behind.
			e.exec("DELETE FROM " + defaultCheckpointTable + " WHERE chunk = 0")
			res = mustRun(t, e.m, job, RunOptions{BatchSize: 100})
			if !res.Done || res.Scanned != n || res.Skipped+res.Null != n {
				t.Fatalf("Run after deleting the header by hand = %+v, want a fresh job that skips every row", res)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}

// TestDryRunChecksWidth: a varchar target too narrow for the sealed value
// is found by the dry run, row by row, and the real run fails those rows
// (reported, left as they were) instead of failing the batch and leaving
// the job running for ever. SQLite does not enforce declared lengths.
func TestDryRunChecksWidth(t *testing.T) {
	for _, dc := range dialects {
		if dc.d == dialectSQLite {
			continue
		}
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(300)
			e.exec("ALTER TABLE users ADD COLUMN email_short VARCHAR(40)")
			ctx := context.Background()
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_short", TenantColumn: "tenant"}
			res, err := e.m.Run(ctx, job, RunOptions{DryRun: true, BatchSize: 100})
			if !errors.Is(err, ErrRowsFailed) || res.Failed == 0 || len(res.Failures) == 0 || !strings.Contains(res.Failures[0].Reason, "does not fit") {
				t.Fatalf("dry Run into varchar(40) = %+v, %v; want the rows that do not fit failing", res, err)
			}
			if jobs, _ := e.m.Jobs(ctx); len(jobs) != 0 {
				t.Fatalf("dry run recorded jobs %+v", jobs)
			}
			real, err := e.m.Run(ctx, job, RunOptions{BatchSize: 100})
			if !errors.Is(err, ErrRowsFailed) || !real.Done || real.Failed != res.Failed || real.Updated != res.Updated {
				t.Fatalf("Run into varchar(40) = %+v, %v; want done with the dry run's %d failures", real, err, res.Failed)
			}
			st, err := e.m.Status(ctx, job.defaultID())
			if err != nil || st.State != "done" || st.Left != res.Failed {
				t.Fatalf("Status = %+v, %v; want done with %d left behind", st, err, res.Failed)
			}
		})
	}
}

// TestDryRunWarnsAndChecksCheckpoint: a dry run reports UPDATE triggers,
// the checkpoint table it would create, and stops on the job mismatch the
// real run would stop on.
func TestDryRunWarnsAndChecksCheckpoint(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(200)
			e.exec("CREATE TABLE audit (id integer)")
			switch dc.d {
			case dialectPostgres:
				e.exec("CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
				e.exec("CREATE TRIGGER users_upd BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION noop()")
			case dialectMySQL:
				e.exec("CREATE TRIGGER users_upd AFTER UPDATE ON users FOR EACH ROW INSERT INTO audit VALUES (NEW.id)")
			default:
				e.exec("CREATE TRIGGER users_upd AFTER UPDATE ON users BEGIN INSERT INTO audit VALUES (NEW.id); END")
			}
			ctx := context.Background()
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			res, err := e.m.Run(ctx, job, RunOptions{DryRun: true})
			if err != nil || !hasWarning(res, "trigger") || !hasWarning(res, "does not exist yet") {
				t.Fatalf("dry Run = %+v, %v; want warnings on the trigger and the checkpoint table", res, err)
			}
			// An unfinished job of another description under the id.
			cctx, cancel := context.WithCancel(ctx)
			other := job
			other.ID, other.Column = "shared-id", "raw"
			if _, err := e.m.Run(cctx, other, RunOptions{BatchSize: 20, Progress: func(Progress) { cancel() }}); !errors.Is(err, errInterrupted) {
				t.Fatalf("cancelled Run = %v", err)
			}
			job.ID = "shared-id"
			if _, err := e.m.Run(ctx, job, RunOptions{DryRun: true}); !errors.Is(err, errJobMismatch) {
				t.Fatalf("dry Run over another unfinished job's id = %v, want ErrJobMismatch", err)
			}
		})
	}
}

func hasWarning(res *Result, word string) bool {
	if res == nil {
		return false
	}
	for _, w := range res.Warnings {
		if strings.Contains(w, word) {
			return true
		}
	}
	return false
}

// TestRereadsCounted: a compare-and-set lost to a concurrent write is
// reported as a re-read, in the Result and in Status. (SQLite's batch
// holds the database's write lock: no write can come between its read
// and its write.)
func TestRereadsCounted(t *testing.T) {
	for _, dc := range dialects {
		if dc.d == dialectSQLite {
			continue
		}
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(300)
			done := false
			testHookBeforeWrite = func(ws []write) error {
				if !done {
					done = true
					e.exec(rebind(dc.d, "UPDATE users SET email = ? WHERE id = ?"), "changed@example.org", ws[0].r.pk)
				}
				return nil
			}
			t.Cleanup(func() { testHookBeforeWrite = nil })
			job := Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}
			res := mustRun(t, e.m, job, RunOptions{BatchSize: 100})
			if res.Rereads != 1 || res.Conflicts != 0 || res.Left != 0 {
				t.Fatalf("Run = %+v, want 1 re-read, nothing left", res)
			}
			if st, err := e.m.Status(context.Background(), job.defaultID()); err != nil || st.Rereads != 1 {
				t.Fatalf("Status = %+v, %v; want 1 re-read", st, err)
			}
		})
	}
}

// TestOlderCheckpointTable: a checkpoint table without the columns added
// since (as an older version created it), holding an unfinished job,
// keeps working: Status and Run add the columns, and the job resumes.
func TestOlderCheckpointTable(t *testing.T) {
	const n = 2000
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			e.interrupt(job, n/4)
			for _, c := range sqldialect.LaterCheckpointColumns {
				e.exec("ALTER TABLE " + defaultCheckpointTable + " DROP COLUMN " + e.d.quote(c.Name))
			}
			m2 := e.m
			st, err := m2.Status(context.Background(), job.defaultID())
			if err != nil || st.ChunksDone == st.Chunks {
				t.Fatalf("Status on an older checkpoint table = %+v, %v", st, err)
			}
			res := mustRun(t, m2, job, RunOptions{BatchSize: 100})
			if !res.Done || res.Scanned != n || res.Updated+res.Null != n {
				t.Fatalf("resumed Run on an older checkpoint table = %+v", res)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}

// TestRedactError: the error a failed run leaves in the checkpoint table
// does not carry the value MySQL quotes in a duplicate-key error.
func TestRedactError(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"migrate: update users: Error 1062 (23000): Duplicate entry 'alice@example.com' for key 'users.email'", "migrate: update users: Error 1062 (23000): Duplicate entry (value not shown) for key 'users.email'"},
		{"migrate: update users: ERROR: value too long for type character varying(40) (SQLSTATE 22001)", "migrate: update users: ERROR: value too long for type character varying(40) (SQLSTATE 22001)"},
		{"Duplicate entry 'x", "Duplicate entry (value not shown)"},
	} {
		if got := redactError(c.in); got != c.want || strings.Contains(got, "alice") {
			t.Errorf("redactError(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestMultiColumnJob: one job over two columns of the table walks the key
// range once: rows are scanned once, both columns' values are sealed
// (each bound to its own column), a dry run counts both, a rerun
// re-checks both, and one decrypt job takes both back.
func TestMultiColumnJob(t *testing.T) {
	const n = 1500
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			ctx := context.Background()
			var nonNull int64
			for id := int64(1); id <= n; id++ {
				if _, ok := emailOf(id); ok {
					nonNull++
				}
			}
			job := Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant", Also: []ColumnPair{{Column: "raw"}}}
			if got, want := job.defaultID(), "encrypt:users.email,raw"; got != want {
				t.Errorf("DefaultID = %q, want %q", got, want)
			}
			dry, err := e.m.Run(ctx, job, RunOptions{DryRun: true, BatchSize: 100})
			if err != nil || dry.Scanned != n || dry.Updated != 2*nonNull {
				t.Fatalf("dry Run = %+v, %v; want %d rows, %d values", dry, err, n, 2*nonNull)
			}
			res := mustRun(t, e.m, job, RunOptions{BatchSize: 100, Workers: 2})
			if !res.Done || res.Scanned != n || res.ThisRun != n || res.Updated != 2*nonNull {
				t.Fatalf("Run = %+v; want %d rows scanned once, %d values sealed", res, n, 2*nonNull)
			}
			e.checkEncrypted("email", emailOf)
			e.checkEncrypted("raw", emailOf)
			if res := mustRun(t, e.m, job, RunOptions{}); res.Recheck == nil || res.Recheck.Updated != 0 || res.Recheck.Scanned != n {
				t.Fatalf("rerun = %+v, want a re-check with nothing pending", res.Recheck)
			}

			dec := Job{Kind: Decrypt, Table: "users", Column: "email", TenantColumn: "tenant", Also: []ColumnPair{{Column: "raw"}}}
			res = mustRun(t, e.m, dec, RunOptions{BatchSize: 100})
			if res.Updated != 2*nonNull {
				t.Fatalf("Run(decrypt) = %+v, want %d values", res, 2*nonNull)
			}
			for _, r := range e.rawColumn("users", "raw") {
				if w, ok := emailOf(r.id); ok && string(r.v) != w {
					t.Fatalf("row %d: raw = %q after decrypt, want %q", r.id, r.v, w)
				}
			}

			bad := Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant", Also: []ColumnPair{{Column: "email"}}}
			if _, err := e.m.Run(ctx, bad, RunOptions{}); !errors.Is(err, ErrInvalidJob) {
				t.Errorf("Run with a column twice = %v, want ErrInvalidJob", err)
			}
		})
	}
}

// interrupt runs job in batches of 100 and stops it once at least done
// rows are done, leaving an unfinished job in the checkpoint table.
func (e *env) interrupt(job Job, done int64) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := e.m.Run(ctx, job, RunOptions{BatchSize: 100, Progress: func(p Progress) {
		if p.Done >= done {
			cancel()
		}
	}})
	if !errors.Is(err, errInterrupted) {
		e.t.Fatalf("interrupted Run = %v", err)
	}
}
