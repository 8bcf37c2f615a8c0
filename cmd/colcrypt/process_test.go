package main

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

var encryptArgs = []string{"migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_enc", "--tenant-column", "tenant", "--no-progress"}

// TestKillAndResume kills a migration process with SIGKILL in the middle
// of its run, then runs it again: the rerun finishes the job, every row
// holds its value sealed exactly once.
func TestKillAndResume(t *testing.T) {
	const n = 40_000
	for _, dialect := range []string{"postgres", "sqlite"} {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.mustRun(exitOK, "keys", "init")

			// A rate limit keeps the run long enough to be killed mid-way.
			cmd := f.cmd(append(encryptArgs, "--batch-size", "250", "--workers", "2", "--rate", "8000")...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			scanned := "SELECT coalesce(sum(scanned), 0) FROM colcrypt_migrations WHERE chunk > 0"
			deadline := time.Now().Add(60 * time.Second)
			for {
				var got int64
				// The checkpoint table may not exist for the first instants.
				if err := f.db.QueryRow(scanned).Scan(&got); err == nil && got >= n/4 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("the migration made no progress; stderr:\n%s", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("migration process: %v, want killed by SIGKILL (did it finish first?)", err)
			}

			// The checkpoint and the table agree: every committed batch's
			// rows are written, and nothing else.
			atKill := f.scalar(scanned)
			written := f.scalar("SELECT count(*) FROM users WHERE email_enc IS NOT NULL")
			if recorded := f.scalar("SELECT coalesce(sum(updated), 0) FROM colcrypt_migrations WHERE chunk > 0"); recorded != written {
				t.Fatalf("after SIGKILL: %d rows encrypted, the checkpoint records %d", written, recorded)
			}
			if atKill >= n || written == 0 {
				t.Fatalf("after SIGKILL: %d of %d rows scanned; want a partial run", atKill, n)
			}
			t.Logf("killed after %d rows", atKill)

			res := decodeJSON[resultJSON](t, f.mustRun(exitOK, append(encryptArgs, "--batch-size", "500", "-o", "json")...).stdout)
			if !res.Done || res.ThisRun != n-atKill || res.Scanned != n || res.Skipped != 0 || res.Updated != n-n/50 {
				t.Errorf("rerun = %+v; want the %d remaining rows, each once", res.Result, n-atKill)
			}
			f.checkEncrypted(f.encryptor(f.kmsURL), n)
		})
	}
}

// TestTwoProcesses runs one job in two processes at once: they share the
// table through the checkpoint's chunks, and every row is migrated
// exactly once.
func TestTwoProcesses(t *testing.T) {
	const n = 30_000
	for _, dialect := range []string{"postgres", "sqlite"} {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			f.mustRun(exitOK, "keys", "init")
			var cmds [2]*exec.Cmd
			var outs, errs [2]bytes.Buffer
			for i := range cmds {
				cmds[i] = f.cmd(append(encryptArgs, "--batch-size", "200", "--workers", "2", "--rate", "15000", "-o", "json")...)
				cmds[i].Stdout, cmds[i].Stderr = &outs[i], &errs[i]
				if err := cmds[i].Start(); err != nil {
					t.Fatal(err)
				}
			}
			var thisRun int64
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("process %d: %v\n%s", i, err, errs[i].String())
				}
				res := decodeJSON[resultJSON](t, outs[i].String())
				t.Logf("process %d scanned %d rows", i, res.ThisRun)
				if !res.Done || res.Scanned != n || res.Skipped != 0 || res.Updated != n-n/50 || res.Conflicts != 0 {
					t.Errorf("process %d: job result %+v; want every row once", i, res.Result)
				}
				thisRun += res.ThisRun
			}
			if thisRun != n {
				t.Errorf("the processes scanned %d rows between them, want %d: each row exactly once", thisRun, n)
			}
			f.checkEncrypted(f.encryptor(f.kmsURL), n)
			if s := errs[0].String() + errs[1].String(); strings.Contains(s, "error") {
				t.Errorf("stderr: %s", s)
			}
		})
	}
}

// TestInterrupt sends SIGINT to a running migration: it stops after the
// batch in flight with exit code 130 and a JSON result, and a rerun
// finishes the job.
func TestInterrupt(t *testing.T) {
	const n = 20_000
	f := newFixture(t, "postgres")
	f.users(n)
	f.mustRun(exitOK, "keys", "init")
	cmd := f.cmd(append(encryptArgs, "--batch-size", "100", "--rate", "4000", "-o", "json")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got int64
		if err := f.db.QueryRow("SELECT coalesce(sum(scanned), 0) FROM colcrypt_migrations WHERE chunk > 0").Scan(&got); err == nil && got >= 1000 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit code after SIGINT = %d, want %d\nstderr:\n%s", code, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped by Ctrl-C") || !strings.Contains(stderr.String(), "resume") {
		t.Errorf("stderr after SIGINT:\n%s", stderr.String())
	}
	res := decodeJSON[resultJSON](t, stdout.String())
	written := f.scalar("SELECT count(*) FROM users WHERE email_enc IS NOT NULL")
	if res.Done || res.Scanned == 0 || res.Scanned >= n || res.Updated != written {
		t.Fatalf("interrupted result %+v with %d rows written; want a partial job that matches the table", res.Result, written)
	}
	res = decodeJSON[resultJSON](t, f.mustRun(exitOK, append(encryptArgs, "-o", "json")...).stdout)
	if !res.Done || res.Updated != n-n/50 || res.Skipped != 0 {
		t.Errorf("rerun = %+v", res.Result)
	}
	f.checkEncrypted(f.encryptor(f.kmsURL), n)
}
