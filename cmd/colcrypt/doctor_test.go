package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// doctorDialects are every database the CLI supports: doctor reads each
// one's catalog its own way.
var doctorDialects = []string{"postgres", "sqlite", "mysql"}

// doctorJSON runs doctor -o json, wants exit code want, and returns the
// parsed report. It also checks that no line of the fixture's key file
// (the master key bytes, base64) shows in either stream.
func (f *fixture) doctorJSON(want int, args ...string) doctorReport {
	f.t.Helper()
	r := f.mustRun(want, append([]string{"doctor", "-o", "json"}, args...)...)
	f.noKeyBytes(r)
	return decodeJSON[doctorReport](f.t, r.stdout)
}

func (f *fixture) noKeyBytes(r runResult) {
	f.t.Helper()
	data, err := os.ReadFile(f.keyFile)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		_, key, ok := strings.Cut(line, ":")
		if ok && !strings.HasPrefix(line, "#") && len(key) > 16 && strings.Contains(r.stdout+r.stderr, key) {
			f.t.Fatalf("doctor's output holds master key bytes:\n%s\n%s", r.stdout, r.stderr)
		}
	}
}

// find returns the checks named check (and target, if not "").
func (rep doctorReport) find(check, target string) []checkResult {
	var out []checkResult
	for _, r := range rep.Checks {
		if r.Check == check && (target == "" || r.Target == target) {
			out = append(out, r)
		}
	}
	return out
}

// wantStatus fails unless exactly one check named check (and target)
// has status, and its detail contains detail.
func wantStatus(t *testing.T, rep doctorReport, check, target, status, detail string) checkResult {
	t.Helper()
	got := rep.find(check, target)
	if len(got) != 1 || got[0].Status != status || !strings.Contains(got[0].Detail, detail) {
		t.Fatalf("doctor check %s %s = %+v, want one with status %s and detail containing %q\nreport: %+v", check, target, got, status, detail, rep)
	}
	return got[0]
}

// TestDoctorHealthy: after keys init with two tenants, every check is ok,
// the exit code is 0, and both outputs say so.
func TestDoctorHealthy(t *testing.T) {
	for _, dialect := range doctorDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.mustRun(exitOK, "keys", "init", "--tenant", "acme", "--tenant", "globex")
			rep := f.doctorJSON(exitOK)
			if !rep.OK {
				t.Fatalf("doctor on a healthy deployment: ok = false\n%+v", rep)
			}
			for _, r := range rep.Checks {
				if r.Status != statusOK {
					t.Errorf("check %s %s = %s (%s), want ok", r.Check, r.Target, r.Status, r.Detail)
				}
			}
			for _, c := range []string{"database", "key_table", "checkpoint_table", "master_key", "key_rows", "legacy_indexes", "clock_skew", "kms_quota", "key_file"} {
				if len(rep.find(c, "")) == 0 {
					t.Errorf("doctor report has no %s check: %+v", c, rep)
				}
			}
			wantStatus(t, rep, "database", "", statusOK, dialect)
			wantStatus(t, rep, "key_rows", f.kmsURL, statusOK, "2 live key rows")
			wantStatus(t, rep, "kms_quota", "", statusOK, "2 tenants with live keys")

			text := f.mustRun(exitOK, "doctor")
			if !strings.Contains(text.stdout, "STATUS") || !strings.Contains(text.stdout, "0 failed") {
				t.Fatalf("doctor text output:\n%s\nwant a table and \"0 failed\"", text.stdout)
			}

			// The KMS quota: 1000 tenants × 10 processes / 1m is 10000
			// calls a minute, over a quota of 5000 and half of 15000.
			over := f.doctorJSON(exitProblems, "--tenants", "1000", "--processes", "10", "--ttl", "1m", "--kms-quota", "5000")
			wantStatus(t, over, "kms_quota", "", statusFail, "about 1e+04 KMS calls/min")
			near := f.doctorJSON(exitOK, "--tenants", "1000", "--processes", "10", "--ttl", "1m", "--kms-quota", "15000")
			wantStatus(t, near, "kms_quota", "", statusWarn, "more than half")

			// Tenants marked as written by a release before index keys:
			// a warning that says how to finish, until cleared.
			f.mustRun(exitOK, "keys", "legacy-indexes", "--mark")
			marked := f.doctorJSON(exitOK)
			if r := wantStatus(t, marked, "legacy_indexes", "", statusWarn, "2 tenant(s) marked"); !strings.Contains(r.Fix, "keys legacy-indexes --clear --all") {
				t.Errorf("legacy_indexes fix = %q, want the clear command", r.Fix)
			}
			f.mustRun(exitOK, "keys", "legacy-indexes", "--clear", "--all")
			wantStatus(t, f.doctorJSON(exitOK), "legacy_indexes", "", statusOK, "no tenant")
		})
	}
}

// TestDoctorUnconfiguredMasterKey: a key row under a master key that is
// not given to doctor will not open, so its key_rows check fails and the
// exit code is 3; given as --old-kms, all is well.
func TestDoctorUnconfiguredMasterKey(t *testing.T) {
	for _, dialect := range doctorDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			if err := localkms.GenerateKeyFile(f.keyFile, "k2"); err != nil {
				t.Fatal(err)
			}
			k2 := localkms.FileURL(f.keyFile, "k2")
			f.mustRun(exitOK, "keys", "init", "--tenant", "acme")
			f.mustRun(exitOK, "keys", "init", "--tenant", "globex", "--tenant", "initech", "--kms", k2)

			rep := f.doctorJSON(exitProblems)
			if rep.OK {
				t.Fatalf("doctor with a key row under an unconfigured master key: ok = true\n%+v", rep)
			}
			wantStatus(t, rep, "key_rows", f.kmsURL, statusOK, "1 live key rows")
			bad := wantStatus(t, rep, "key_rows", k2, statusFail, "2 live key rows name a master key not given here")
			if !strings.Contains(bad.Fix, "--old-kms") {
				t.Fatalf("fix = %q, want it to name --old-kms", bad.Fix)
			}
			r := f.mustRun(exitProblems, "doctor", "-o", "json")
			if e := decodeJSON[errorJSON](t, r.stderr); e.Code != "doctor_failed" || e.ExitCode != exitProblems {
				t.Fatalf("doctor -o json error = %+v, want code doctor_failed, exit_code 3", e)
			}
			text := f.mustRun(exitProblems, "doctor")
			if !strings.Contains(text.stdout, "fail") || !strings.Contains(text.stdout, "→ pass its URL with --old-kms") {
				t.Fatalf("doctor text output:\n%s\nwant the failed check and its fix", text.stdout)
			}

			rep = f.doctorJSON(exitOK, "--old-kms", k2)
			wantStatus(t, rep, "key_rows", k2, statusOK, "given by --old-kms")
			if got := len(rep.find("master_key", "")); got != 2 {
				t.Fatalf("doctor --old-kms: %d master_key checks, want 2 (--kms and --old-kms)", got)
			}
		})
	}
}

// TestDoctorMissingKeyTable: before keys init, the key table check fails
// (and names the command that fixes it), the checkpoint table warns, and
// the key rows are not read.
func TestDoctorMissingKeyTable(t *testing.T) {
	for _, dialect := range doctorDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			rep := f.doctorJSON(exitProblems)
			kt := wantStatus(t, rep, "key_table", "colcrypt_keys", statusFail, "does not exist")
			if !strings.Contains(kt.Fix, "colcrypt keys init") {
				t.Fatalf("key_table fix = %q, want colcrypt keys init", kt.Fix)
			}
			wantStatus(t, rep, "checkpoint_table", "colcrypt_migrations", statusWarn, "does not exist")
			wantStatus(t, rep, "master_key", f.kmsURL, statusOK, "wraps and unwraps")
			if got := rep.find("key_rows", ""); len(got) != 0 {
				t.Fatalf("key_rows checks without a key table: %+v", got)
			}

			// A table that lost its one-active index fails too.
			f.mustRun(exitOK, "keys", "init")
			drop := "DROP INDEX colcrypt_keys_one_active"
			if dialect == "mysql" {
				drop += " ON colcrypt_keys"
			}
			f.exec(drop)
			rep = f.doctorJSON(exitProblems)
			wantStatus(t, rep, "key_table", "colcrypt_keys", statusFail, "index colcrypt_keys_one_active is missing")
		})
	}
}

// TestDoctorExposedKeyFile: a local key file group or others can read is
// a warning, not a failure, with the chmod that fixes it.
func TestDoctorExposedKeyFile(t *testing.T) {
	for _, dialect := range doctorDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.mustRun(exitOK, "keys", "init", "--tenant", "acme")
			if err := os.Chmod(f.keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
			rep := f.doctorJSON(exitOK)
			if !rep.OK {
				t.Fatalf("doctor with a 0644 key file: ok = false, want true (a warning)\n%+v", rep)
			}
			kf := wantStatus(t, rep, "key_file", f.keyFile, statusWarn, "mode 0644")
			if kf.Fix != "chmod 600 "+f.keyFile {
				t.Fatalf("key_file fix = %q, want chmod 600 %s", kf.Fix, f.keyFile)
			}
		})
	}
}

// TestDoctorNoDatabase: a database that cannot be reached is a failed
// check, not an error: the master keys are still checked.
func TestDoctorNoDatabase(t *testing.T) {
	f := newFixture(t, "sqlite")
	f.dsn = "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	rep := f.doctorJSON(exitProblems)
	wantStatus(t, rep, "database", "", statusFail, "cannot connect")
	wantStatus(t, rep, "master_key", f.kmsURL, statusOK, "wraps and unwraps")
	if slices.ContainsFunc(rep.Checks, func(r checkResult) bool { return r.Check == "key_table" }) {
		t.Fatalf("key_table checked without a database: %+v", rep)
	}
}

// TestDoctorAWSKMS checks an awskms:// master key on local-kms: key rows
// under it fail until it is given as --old-kms; then it wraps and unwraps
// the test blob; once disabled in the KMS, its master_key check fails.
func TestDoctorAWSKMS(t *testing.T) {
	admin, ep, env := localKMS(t)
	for _, dialect := range serverDialects {
		t.Run(dialect, func(t *testing.T) {
			out, err := admin.CreateKey(t.Context(), &kmssvc.CreateKeyInput{Description: aws.String("colcrypt doctor test " + t.Name())})
			if err != nil {
				t.Fatalf("CreateKey on local-kms: %v", err)
			}
			awsURL := "awskms:///" + aws.ToString(out.KeyMetadata.Arn) + "?endpoint=" + ep
			name, err := kms.Name(awsURL)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, dialect)
			doctor := func(want int, args ...string) doctorReport {
				t.Helper()
				r := f.runEnv(env, append([]string{"doctor", "-o", "json"}, args...)...)
				if r.code != want {
					t.Fatalf("colcrypt doctor %v: exit %d, want %d\n%s\n%s", args, r.code, want, r.stdout, r.stderr)
				}
				f.noKeyBytes(r)
				return decodeJSON[doctorReport](t, r.stdout)
			}
			if r := f.runEnv(env, "keys", "init", "--tenant", "acme", "--kms", awsURL); r.code != exitOK {
				t.Fatalf("keys init --kms awskms://…: exit %d\n%s", r.code, r.stderr)
			}

			rep := doctor(exitProblems)
			wantStatus(t, rep, "key_rows", name, statusFail, "1 live key rows name a master key not given here")

			rep = doctor(exitOK, "--old-kms", awsURL)
			wantStatus(t, rep, "master_key", name, statusOK, "wraps and unwraps")
			wantStatus(t, rep, "key_rows", name, statusOK, "given by --old-kms")

			if _, err := admin.DisableKey(t.Context(), &kmssvc.DisableKeyInput{KeyId: out.KeyMetadata.KeyId}); err != nil {
				t.Fatalf("DisableKey on local-kms: %v", err)
			}
			rep = doctor(exitProblems, "--old-kms", awsURL)
			wantStatus(t, rep, "master_key", name, statusFail, "wrap failed")
		})
	}
}
