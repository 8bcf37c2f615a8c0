package main

import (
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/kms/localkms"
)

func TestHelp(t *testing.T) {
	f := &fixture{t: t}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Exit codes", "keys", "migrate", "COLCRYPT_DSN", "COLCRYPT_KMS", "Examples:", "postgres://", "mysql://", "sqlite://"}},
		{[]string{"help", "keys"}, []string{"init", "list", "rotate", "rewrap", "destroy-version", "shred"}},
		{[]string{"keys", "destroy-version", "--help"}, []string{"--tenant", "--version", "--yes", "backups"}},
		{[]string{"keys", "init", "--help"}, []string{"--tenant", "TenantPolicy.KnownOnly"}},
		{[]string{"migrate", "--help"}, []string{"encrypt", "reencrypt", "decrypt", "verify", "status", "index"}},
		{[]string{"migrate", "encrypt", "--help"}, []string{"Examples:", "--to-column", "--tenant-column", "--bind-column", "--blind-index", "--normalize", "--mode", "--armor", "--batch-size", "--workers", "--rate", "--dry-run", "--job", "--pk"}},
		{[]string{"migrate", "verify", "--help"}, []string{"Examples:", "--expect", "Exit code 3"}},
		{[]string{"migrate", "index", "--help"}, []string{"Examples:", "--index", "--column", "--tenant-column", "--dry-run", "--restart", "index key"}},
		{[]string{"keys", "shred", "--help"}, []string{"--yes", "backups"}},
		{[]string{"keys", "rewrap", "--help"}, []string{"--to", "no data row"}},
	}
	for _, tc := range cases {
		r := f.run(tc.args...)
		if r.code != exitOK {
			t.Errorf("colcrypt %v: exit %d, want 0; stderr %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("colcrypt %v: output lacks %q:\n%s", tc.args, w, r.stdout)
			}
		}
	}
}

func TestUsageExitCodes(t *testing.T) {
	f := newFixture(t, "sqlite")
	f.users(10)
	cases := []struct {
		name string
		args []string
		env  map[string]string // overrides
		want int
		msg  string
	}{
		{"unknown command", []string{"bogus"}, nil, exitUsage, "unknown command"},
		{"group without subcommand", []string{"keys"}, nil, exitUsage, "needs a subcommand"},
		{"unknown flag", []string{"migrate", "encrypt", "--bogus"}, nil, exitUsage, "unknown flag"},
		{"bad flag value", []string{"migrate", "encrypt", "--batch-size", "many"}, nil, exitUsage, "invalid argument"},
		{"missing column", []string{"migrate", "encrypt", "--table", "users"}, nil, exitUsage, "--column"},
		{"no tenant source", []string{"migrate", "encrypt", "--table", "users", "--column", "email"}, nil, exitUsage, "--tenant-column"},
		{"both tenant sources", []string{"migrate", "encrypt", "--table", "users", "--column", "email", "--tenant", "a", "--tenant-column", "tenant"}, nil, exitUsage, "not both"},
		{"bad mode", []string{"migrate", "encrypt", "--table", "users", "--column", "email", "--tenant", "a", "--mode", "ecb"}, nil, exitUsage, "--mode"},
		{"bad output", []string{"--output", "yaml", "keys", "list"}, nil, exitUsage, "--output"},
		{"bad expect", []string{"migrate", "verify", "--table", "users", "--column", "email", "--tenant", "a", "--expect", "maybe"}, nil, exitUsage, "--expect"},
		{"rotate without tenants", []string{"keys", "rotate"}, nil, exitUsage, "--all"},
		{"rewrap without --to", []string{"keys", "rewrap"}, nil, exitUsage, "--to"},
		{"shred without --yes", []string{"keys", "shred", "--tenant", "acme"}, nil, exitUsage, "--yes"},
		{"destroy-version without --version", []string{"keys", "destroy-version", "--tenant", "acme", "--yes"}, nil, exitUsage, "--version"},
		{"destroy-version without --yes", []string{"keys", "destroy-version", "--tenant", "acme", "--version", "1"}, nil, exitUsage, "--yes"},
		{"init --tenant without master key", []string{"keys", "init", "--tenant", "acme"}, map[string]string{envKMS: ""}, exitUsage, envKMS},
		{"no database", []string{"keys", "list"}, map[string]string{envDSN: ""}, exitUsage, envDSN},
		{"no master key", []string{"migrate", "encrypt", "--table", "users", "--column", "email", "--tenant-column", "tenant"}, map[string]string{envKMS: ""}, exitUsage, envKMS},
		{"unreachable database", []string{"keys", "list", "--dsn", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, nil, exitFailure, "connect"},
		{"mysql DSN without its prefix", []string{"keys", "list", "--dsn", "root@tcp(127.0.0.1:3306)/app"}, nil, exitUsage, "mysql://"},
		{"bad mysql DSN", []string{"keys", "list", "--dsn", "mysql://root@tcp(127.0.0.1:3306"}, nil, exitUsage, "bad MySQL DSN"},
		{"no such table", []string{"migrate", "encrypt", "--table", "missing", "--column", "email", "--tenant-column", "tenant"}, nil, exitFailure, "no such table"},
		{"in place into an integer column", []string{"migrate", "encrypt", "--table", "users", "--column", "id", "--tenant", "a"}, nil, exitUsage, "key column"},
	}
	f.mustRun(exitOK, "keys", "init")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := f.cmd(tc.args...)
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			if err != nil {
				code = cmd.ProcessState.ExitCode()
			}
			if code != tc.want || !strings.Contains(errb.String(), tc.msg) {
				t.Errorf("colcrypt %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errb.String(), tc.want, tc.msg)
			}
		})
	}
}

// TestEndToEnd walks the lifecycle of one column through the CLI, with
// JSON output parsed at each step: init, encrypt, verify, rotate,
// reencrypt, list, rewrap, shred, verify again, status.
func TestEndToEnd(t *testing.T) {
	const n = 3000
	for _, dialect := range []string{"postgres", "sqlite", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.users(n)
			col := []string{"--table", "users", "--column", "email_enc", "--tenant-column", "tenant"}
			bidx := []string{"--blind-index", "email_bidx", "--normalize", "lower,trim"}

			init := decodeJSON[map[string]string](t, f.mustRun(exitOK, "keys", "init", "-o", "json").stdout)
			if init["key_table"] != "colcrypt_keys" || init["dialect"] != dialect {
				t.Errorf("keys init = %v", init)
			}
			// Dry run first: nothing written.
			dry := decodeJSON[resultJSON](t, f.mustRun(exitOK, append([]string{"migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_enc", "--tenant-column", "tenant", "--dry-run", "-o", "json"}, bidx...)...).stdout)
			if !dry.DryRun || dry.Updated != n-n/50 || f.scalar("SELECT count(*) FROM users WHERE email_enc IS NOT NULL") != 0 {
				t.Errorf("dry run = %+v", dry.Result)
			}
			enc := decodeJSON[resultJSON](t, f.mustRun(exitOK, append([]string{"migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_enc", "--tenant-column", "tenant",
				"--batch-size", "200", "--workers", "2", "-o", "json"}, bidx...)...).stdout)
			if !enc.Done || enc.Scanned != n || enc.Updated != n-n/50 || enc.Null != n/50 || enc.Failed != 0 {
				t.Errorf("migrate encrypt = %+v", enc.Result)
			}
			e := f.encryptor(f.kmsURL)
			f.checkEncrypted(e, n)

			rep := decodeJSON[reportJSON](t, f.mustRun(exitOK, append(append([]string{"migrate", "verify", "-o", "json"}, col...), bidx...)...).stdout)
			if !rep.OK || rep.Encrypted != n-n/50 || rep.Versions[1] != n-n/50 {
				t.Errorf("migrate verify = %+v", rep.Report)
			}

			rot := decodeJSON[[]rotated](t, f.mustRun(exitOK, "keys", "rotate", "--all", "-o", "json").stdout)
			if len(rot) != 3 || rot[0].Version != 2 {
				t.Errorf("keys rotate --all = %+v", rot)
			}
			listed := decodeJSON[[]keyRow](t, f.mustRun(exitOK, append([]string{"keys", "list", "-o", "json"}, col...)...).stdout)
			if len(listed) != 6 {
				t.Fatalf("keys list = %+v, want 2 versions of 3 tenants", listed)
			}
			re := decodeJSON[resultJSON](t, f.mustRun(exitOK, append(append([]string{"migrate", "reencrypt", "-o", "json"}, col...), bidx...)...).stdout)
			if re.Updated != n-n/50 {
				t.Errorf("migrate reencrypt = %+v", re.Result)
			}
			listed = decodeJSON[[]keyRow](t, f.mustRun(exitOK, append([]string{"keys", "list", "-o", "json"}, col...)...).stdout)
			for _, k := range listed {
				if k.Rows == nil || (k.Version == 1) != (*k.Rows == 0) {
					t.Errorf("keys list after reencrypt: %s v%d %s has %v rows, want none on v1 and all on v2", k.Tenant, k.Version, k.State, k.Rows)
				}
			}

			// Master key rotation: the data does not change.
			if err := localkms.GenerateKeyFile(f.keyFile, "k2"); err != nil {
				t.Fatal(err)
			}
			k2 := "local://" + f.keyFile + "?id=k2"
			before := f.scalar("SELECT count(*) FROM users WHERE email_enc IS NOT NULL")
			rw := decodeJSON[map[string]any](t, f.mustRun(exitOK, "keys", "rewrap", "--to", k2, "-o", "json").stdout)
			// 6 data keys (3 tenants, 2 versions each) and each tenant's
			// index key (the blind index of email).
			if rw["rewrapped"] != float64(9) || rw["to"] != k2 {
				t.Errorf("keys rewrap = %v, want 6 data keys and 3 index keys", rw)
			}
			f.kmsURL = k2
			f.checkEncrypted(f.encryptor(k2), n)
			if after := f.scalar("SELECT count(*) FROM users WHERE email_enc IS NOT NULL"); after != before {
				t.Errorf("rows with ciphertext: %d before rewrap, %d after", before, after)
			}
			// Keys are unwrapped only with the master keys given on the
			// command line: without the old one rewrap stops, with it as
			// --old-kms it goes through.
			if err := localkms.GenerateKeyFile(f.keyFile, "k3"); err != nil {
				t.Fatal(err)
			}
			k3 := "local://" + f.keyFile + "?id=k3"
			if r := f.mustRun(exitFailure, "keys", "rewrap", "--to", k3, "--kms", k3); !strings.Contains(r.stderr, "master key not configured") || !strings.Contains(r.stderr, "--old-kms") {
				t.Errorf("keys rewrap without the old master key: stderr = %s, want master key not configured and a hint", r.stderr)
			}
			rw = decodeJSON[map[string]any](t, f.mustRun(exitOK, "keys", "rewrap", "--to", k3, "--kms", k3, "--old-kms", k2, "-o", "json").stdout)
			if rw["rewrapped"] != float64(9) || rw["to"] != k3 {
				t.Errorf("keys rewrap --old-kms = %v, want 6 data keys and 3 index keys", rw)
			}
			f.kmsURL = k3
			f.checkEncrypted(f.encryptor(k3), n)

			f.mustRun(exitOK, "keys", "shred", "--tenant", "globex", "--yes")
			r := f.mustRun(exitProblems, append(append([]string{"migrate", "verify", "-o", "json", "--max-failures", "4"}, col...), bidx...)...)
			rep = decodeJSON[reportJSON](t, r.stdout)
			if rep.OK || rep.Failed != f.scalar("SELECT count(*) FROM users WHERE tenant = 'globex' AND email_enc IS NOT NULL") || len(rep.Failures) != 4 {
				t.Errorf("verify after shred = %+v", rep.Report)
			}
			// Text output says the same.
			r = f.mustRun(exitProblems, append([]string{"migrate", "verify"}, col...)...)
			if !strings.Contains(r.stdout, "PROBLEMS FOUND") || !strings.Contains(r.stdout, "key destroyed") {
				t.Errorf("verify text output:\n%s", r.stdout)
			}

			st := decodeJSON[[]map[string]any](t, f.mustRun(exitOK, "migrate", "status", "-o", "json").stdout)
			if len(st) != 2 {
				t.Errorf("migrate status = %v, want the encrypt and reencrypt jobs", st)
			}
			for _, s := range st {
				if s["state"] != "done" {
					t.Errorf("job %v is %v, want done", s["job_id"], s["state"])
				}
			}
		})
	}
}

// TestKeysInitTenantAndDestroyVersion: "keys init --tenant" creates a
// tenant's first key once; "keys destroy-version" destroys one retired
// version, refuses the one that seals, and leaves the others.
func TestKeysInitTenantAndDestroyVersion(t *testing.T) {
	for _, dialect := range []string{"postgres", "sqlite", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			out := decodeJSON[map[string]any](t, f.mustRun(exitOK, "keys", "init", "--tenant", "acme,globex", "-o", "json").stdout)
			if ts, _ := out["tenants"].([]any); len(ts) != 2 {
				t.Errorf("keys init --tenant acme,globex = %v", out)
			}
			f.mustRun(exitOK, "keys", "init", "--tenant", "acme")
			if n := f.scalar("SELECT count(*) FROM colcrypt_keys"); n != 2 {
				t.Fatalf("key rows after init of acme, globex, acme = %d, want 2", n)
			}
			f.mustRun(exitOK, "keys", "rotate", "--tenant", "acme")
			f.mustRun(exitOK, "keys", "rotate", "--tenant", "acme")

			r := f.mustRun(exitFailure, "keys", "destroy-version", "--tenant", "acme", "--version", "3", "--yes")
			if !strings.Contains(r.stderr, "still seals new values") {
				t.Errorf("destroy-version of the active version: stderr %q", r.stderr)
			}
			got := decodeJSON[map[string]any](t, f.mustRun(exitOK, "keys", "destroy-version", "--tenant", "acme", "--version", "1", "--yes", "-o", "json").stdout)
			if got["destroyed"] != true || got["version"] != float64(1) {
				t.Errorf("keys destroy-version = %v", got)
			}
			listed := decodeJSON[[]keyRow](t, f.mustRun(exitOK, "keys", "list", "--tenant", "acme", "-o", "json").stdout)
			want := []string{"destroyed", "retired", "active"}
			if len(listed) != 3 {
				t.Fatalf("keys list after destroy-version = %+v", listed)
			}
			for i, k := range listed {
				if k.State != want[i] {
					t.Errorf("acme v%d is %s, want %s", k.Version, k.State, want[i])
				}
			}
			if n := f.scalar("SELECT count(*) FROM colcrypt_keys WHERE tenant_id = 'acme' AND wrapped_dek IS NULL"); n != 1 {
				t.Errorf("erased wrapped keys of acme = %d, want 1", n)
			}
			r = f.mustRun(exitFailure, "keys", "destroy-version", "--tenant", "acme", "--version", "7", "--yes")
			if !strings.Contains(r.stderr, "key not found") {
				t.Errorf("destroy-version of a missing version: stderr %q", r.stderr)
			}
		})
	}
}
