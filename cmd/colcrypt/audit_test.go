package main

import (
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// TestKeysAudit runs the built binary: key operations append events with
// the --actor given, "keys audit" prints them (text and JSON) and
// verifies the chain, and after one event row is edited, deleted or
// swapped, "keys audit --verify" exits 3 naming the first bad event.
func TestKeysAudit(t *testing.T) {
	for _, dialect := range []string{"postgres", "mysql", "sqlite"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dialect)
			f.mustRun(exitOK, "keys", "init", "--tenant", "acme,globex", "--actor", "alice")
			f.mustRun(exitOK, "keys", "rotate", "--tenant", "acme", "--actor", "bob")
			f.mustRun(exitOK, "keys", "destroy-version", "--tenant", "acme", "--version", "1", "--yes", "--actor", "bob")
			f.mustRun(exitOK, "keys", "shred", "--tenant", "globex", "--yes") // the OS user

			out := decodeJSON[auditJSON](t, f.mustRun(exitOK, "keys", "audit", "--verify", "-o", "json").stdout)
			var ops []string
			for _, e := range out.Events {
				ops = append(ops, e.Operation+" "+e.Tenant+" "+e.Actor)
			}
			want := []string{"chain-key  alice", "create acme alice", "create globex alice", "rotate acme bob", "destroy-version acme bob"}
			if len(ops) != 6 || strings.Join(ops[:5], "|") != strings.Join(want, "|") || !strings.HasPrefix(ops[5], "shred globex ") {
				t.Fatalf("events = %q, want %q then shred globex", ops, want)
			}
			if out.Verified == nil || !*out.Verified || out.Checked != 6 {
				t.Fatalf("keys audit --verify = verified %v, checked %d; want true, 6", out.Verified, out.Checked)
			}
			acme := decodeJSON[auditJSON](t, f.mustRun(exitOK, "keys", "audit", "--tenant", "acme", "-o", "json").stdout)
			if len(acme.Events) != 3 || acme.Verified != nil {
				t.Fatalf("keys audit --tenant acme = %+v, want acme's 3 events, unverified", acme)
			}
			text := f.mustRun(exitOK, "keys", "audit", "--verify").stdout
			if !strings.Contains(text, "rotate") || !strings.Contains(text, "chain verified: 6 events") {
				t.Fatalf("keys audit --verify text:\n%s", text)
			}

			ev := sqldialect.EventsSuffix
			ev = "colcrypt_keys" + ev
			if dialect == "mysql" {
				ev = "`" + ev + "`"
			}
			rebind := func(q string) string {
				if dialect == "postgres" {
					return strings.Replace(q, "?", "$1", 1)
				}
				return q
			}
			broken := func(name string, bad int64) {
				t.Helper()
				r := f.mustRun(exitProblems, "keys", "audit", "--verify", "-o", "json")
				got := decodeJSON[auditJSON](t, r.stdout)
				if got.Verified == nil || *got.Verified || got.BadEvent == nil || *got.BadEvent != bad {
					t.Fatalf("after %s: keys audit --verify = %s, want event %d named", name, r.stdout, bad)
				}
				if !strings.Contains(r.stderr, "audit_chain_broken") {
					t.Fatalf("after %s: stderr = %s, want code audit_chain_broken", name, r.stderr)
				}
				text := f.mustRun(exitProblems, "keys", "audit", "--verify")
				if !strings.Contains(text.stdout, "CHAIN BROKEN at event") {
					t.Fatalf("after %s: text output:\n%s", name, text.stdout)
				}
			}
			// Edit: the actor of event 3, then put it back.
			f.exec(rebind(`UPDATE `+ev+` SET actor = ? WHERE seq = 3`), "mallory")
			broken("edit", 3)
			f.exec(rebind(`UPDATE `+ev+` SET actor = ? WHERE seq = 3`), "bob")
			f.mustRun(exitOK, "keys", "audit", "--verify")
			// Swap events 1 and 2.
			f.exec(`UPDATE ` + ev + ` SET seq = 100 WHERE seq = 1`)
			f.exec(`UPDATE ` + ev + ` SET seq = 1 WHERE seq = 2`)
			f.exec(`UPDATE ` + ev + ` SET seq = 2 WHERE seq = 100`)
			broken("swap", 1)
			f.exec(`UPDATE ` + ev + ` SET seq = 100 WHERE seq = 1`)
			f.exec(`UPDATE ` + ev + ` SET seq = 1 WHERE seq = 2`)
			f.exec(`UPDATE ` + ev + ` SET seq = 2 WHERE seq = 100`)
			f.mustRun(exitOK, "keys", "audit", "--verify")
			// Delete event 4.
			f.exec(`DELETE FROM ` + ev + ` WHERE seq = 4`)
			broken("delete", 5)
		})
	}
}
