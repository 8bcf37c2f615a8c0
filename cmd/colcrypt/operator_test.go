package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliDialects are the servers the operator tests run the binary against.
var cliDialects = []string{"postgres", "mysql"}

// TestCLIRerunAfterDecrypt: encrypt, decrypt, encrypt again. The third
// command must not print "done" over a plaintext column and exit 0: it
// re-checks the column, says how many rows are plaintext and names
// --restart. After --restart, a rerun says there is nothing to do, with
// the rows it checked.
func TestCLIRerunAfterDecrypt(t *testing.T) {
	const n = 900
	for _, dialect := range cliDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.mustRun(exitOK, "keys", "init")
			enc := []string{"migrate", "encrypt", "--table", "users", "--column", "email", "--tenant-column", "tenant", "--no-progress"}
			f.mustRun(exitOK, enc...)
			f.mustRun(exitOK, "migrate", "decrypt", "--table", "users", "--column", "email", "--tenant-column", "tenant", "--no-progress")

			r := f.mustRun(exitProblems, enc...)
			out := r.stdout + r.stderr
			if !strings.Contains(out, "--restart") || !strings.Contains(out, "re-check of 900 rows found 882 plaintext") || strings.Contains(r.stdout, ": done") {
				t.Fatalf("encrypt after decrypt:\nstdout:\n%s\nstderr:\n%s\nwant the re-check's 882 plaintext rows and --restart, never done", r.stdout, r.stderr)
			}
			if got := f.scalar("SELECT count(*) FROM users WHERE email LIKE 'person%'"); got != n-n/50 {
				t.Fatalf("the re-check changed data: %d plaintext rows, want %d", got, n-n/50)
			}

			res := decodeJSON[resultJSON](t, f.mustRun(exitOK, append(enc, "--restart", "-o", "json")...).stdout)
			if !res.Done || res.Updated != n-n/50 {
				t.Fatalf("encrypt --restart = %+v, want %d rows sealed", res.Result, n-n/50)
			}
			r = f.mustRun(exitOK, enc...)
			if !strings.Contains(r.stdout, "re-checked 900 rows: 0 plaintext, nothing to do") {
				t.Fatalf("rerun of the finished job:\n%s\nwant the re-check's evidence", r.stdout)
			}
		})
	}
}

// TestCLIStatusLivenessAndForget: status shows a running job's owner and
// heartbeat; a killed process's job turns stalled once its heartbeat is
// old; forget removes the job's rows, header and chunks; the next run
// plans afresh and finishes.
func TestCLIStatusLivenessAndForget(t *testing.T) {
	const n = 20_000
	for _, dialect := range cliDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.mustRun(exitOK, "keys", "init")
			cmd := f.cmd(append(encryptArgs, "--batch-size", "250", "--rate", "4000")...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			const jobID = "encrypt:users.email->email_enc"
			var st []statusJSON
			deadline := time.Now().Add(60 * time.Second)
			for {
				r := f.run("migrate", "status", "-o", "json")
				if r.code == exitOK {
					st = decodeJSON[[]statusJSON](t, r.stdout)
					if len(st) == 1 && st[0].Scanned > 0 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no progress recorded: %+v", r)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if st[0].State != "running" || !strings.HasSuffix(st[0].Owner, ":"+strconv.Itoa(cmd.Process.Pid)) || time.Since(st[0].Heartbeat) > time.Minute {
				t.Fatalf("status of a running job = %+v; want running, owned by pid %d, a fresh heartbeat", st[0], cmd.Process.Pid)
			}
			if r := f.run("migrate", "forget", "--job", jobID); r.code == exitOK || !strings.Contains(r.stderr, "running") {
				t.Fatalf("forget of a running job: exit %d, stderr %s; want it refused", r.code, r.stderr)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			// Time passes: the dead owner's heartbeat gets old.
			f.exec("UPDATE colcrypt_migrations SET heartbeat_at = heartbeat_at - INTERVAL '1' HOUR WHERE chunk = 0")
			r := f.mustRun(exitOK, "migrate", "status")
			if !strings.Contains(r.stdout, jobID+": stalled") || !strings.Contains(r.stdout, "owner ") {
				t.Fatalf("status after the owner was killed:\n%s\nwant stalled, with its owner", r.stdout)
			}

			f.mustRun(exitOK, "migrate", "forget", "--job", jobID)
			if left := f.scalar("SELECT count(*) FROM colcrypt_migrations"); left != 0 {
				t.Fatalf("forget left %d checkpoint rows", left)
			}
			res := decodeJSON[resultJSON](t, f.mustRun(exitOK, append(encryptArgs, "--batch-size", "1000", "-o", "json")...).stdout)
			if !res.Done || res.Scanned != n || res.Updated+res.Skipped+res.Null != n {
				t.Fatalf("run after forget = %+v, want a fresh job over %d rows", res.Result, n)
			}
			f.checkEncrypted(f.encryptor(f.kmsURL), n)
		})
	}
}

// TestCLIDryRunChecksAndFailedStatus: a dry run into a varchar(74)
// reports the rows whose sealed value would not fit (exit 3: the 490
// emails of 21 characters; the 98 shorter ones fit), and warns
// of an UPDATE trigger; a real run stopped by the trigger's error leaves
// status failed with the error, and after the trigger is dropped a rerun
// finishes the job, failing only the rows that do not fit.
func TestCLIDryRunChecksAndFailedStatus(t *testing.T) {
	const n = 600
	for _, dialect := range cliDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.mustRun(exitOK, "keys", "init")
			f.exec("ALTER TABLE users ADD COLUMN email_short VARCHAR(74)")
			if dialect == "postgres" {
				f.exec("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$")
				f.exec("CREATE TRIGGER users_refuse BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse()")
			} else {
				f.exec("CREATE TRIGGER users_refuse BEFORE UPDATE ON users FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a test trigger'")
			}
			args := []string{"migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_short", "--tenant-column", "tenant", "--no-progress"}
			dryRes := decodeJSON[resultJSON](t, f.mustRun(exitProblems, append(args, "--dry-run", "-o", "json")...).stdout)
			if dryRes.Failed != 490 || dryRes.Updated != 98 {
				t.Fatalf("dry run into varchar(74) = %+v; want 490 failing, 98 fitting", dryRes.Result)
			}
			dry := f.mustRun(exitProblems, append(args, "--dry-run")...)
			if !strings.Contains(dry.stdout, "does not fit the target column") || !strings.Contains(dry.stdout, "trigger") {
				t.Fatalf("dry run into varchar(74):\n%s\nwant the rows that do not fit and the trigger warning", dry.stdout)
			}
			r := f.run(args...)
			if r.code == exitOK {
				t.Fatalf("run against the refusing trigger exited 0:\n%s", r.stdout)
			}
			st := decodeJSON[[]statusJSON](t, f.mustRun(exitOK, "migrate", "status", "-o", "json").stdout)
			if len(st) != 1 || st[0].State != "failed" || !strings.Contains(st[0].Error, "refused by a test trigger") {
				t.Fatalf("status after the failed run = %+v; want failed with the trigger's error", st)
			}
			f.exec("DROP TRIGGER users_refuse" + map[string]string{"postgres": " ON users", "mysql": ""}[dialect])
			res := decodeJSON[resultJSON](t, f.mustRun(exitProblems, append(args, "-o", "json")...).stdout)
			if !res.Done || res.Failed != 490 || res.Left != 490 || res.Updated != 98 {
				t.Fatalf("run after the trigger is gone = %+v; want done, the long rows failed and left", res.Result)
			}
			st = decodeJSON[[]statusJSON](t, f.mustRun(exitOK, "migrate", "status", "-o", "json").stdout)
			if st[0].State != "done" || st[0].Error != "" {
				t.Fatalf("status = %+v, want done", st[0])
			}
		})
	}
}

// TestCLIMultiColumn: --column email --column note is one job, one pass
// over the rows: both columns come out encrypted and verify clean, and a
// command that takes one column refuses two.
func TestCLIMultiColumn(t *testing.T) {
	const n = 3000
	for _, dialect := range cliDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.exec("ALTER TABLE users ADD COLUMN note text")
			f.exec("UPDATE users SET note = email")
			f.mustRun(exitOK, "keys", "init")
			res := decodeJSON[resultJSON](t, f.mustRun(exitOK, "migrate", "encrypt", "--table", "users", "--column", "email", "--column", "note",
				"--tenant-column", "tenant", "--workers", "2", "--no-progress", "-o", "json").stdout)
			if !res.Done || res.Scanned != n || res.Updated != 2*(n-n/50) || res.JobID != "encrypt:users.email,note" {
				t.Fatalf("encrypt of two columns = %+v; want %d rows once, %d values", res.Result, n, 2*(n-n/50))
			}
			for _, col := range []string{"email", "note"} {
				rep := decodeJSON[reportJSON](t, f.mustRun(exitOK, "migrate", "verify", "--table", "users", "--column", col, "--tenant-column", "tenant", "-o", "json").stdout)
				if !rep.OK || rep.Encrypted != int64(n-n/50) {
					t.Fatalf("verify %s = %+v", col, rep.Report)
				}
			}
			if r := f.run("migrate", "verify", "--table", "users", "--column", "email", "--column", "note", "--tenant-column", "tenant"); r.code != exitUsage {
				t.Fatalf("verify with two columns: exit %d, want %d", r.code, exitUsage)
			}
		})
	}
}
