package main

import (
	"strings"
	"testing"
)

// TestLogLevel: --log-level info shows the key store's record of a
// rotation on stderr; by default the CLI shows none, and a bad level is a
// usage error.
func TestLogLevel(t *testing.T) {
	f := newFixture(t, "sqlite")
	f.mustRun(exitOK, "keys", "init", "--tenant", "acme")
	if r := f.mustRun(exitOK, "keys", "rotate", "--tenant", "acme"); strings.Contains(r.stderr, "rotated tenant key") {
		t.Errorf("keys rotate without --log-level: stderr = %q, want no log record", r.stderr)
	}
	r := f.mustRun(exitOK, "keys", "rotate", "--tenant", "acme", "--log-level", "info")
	if !strings.Contains(r.stderr, "level=INFO") || !strings.Contains(r.stderr, `msg="keystore: rotated tenant key" tenant=acme version=3`) {
		t.Errorf("keys rotate --log-level info: stderr = %q, want the store's rotation record", r.stderr)
	}
	if r := f.run("keys", "list", "--log-level", "loud"); r.code != exitUsage {
		t.Errorf("--log-level loud: exit %d, want %d (usage)", r.code, exitUsage)
	}
}
