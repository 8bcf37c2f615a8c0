package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDBScenarios runs every database variant once, briefly, on the
// Postgres named by COLCRYPT_TEST_DATABASE_URL (skipped without it, failed
// under CI=true), and checks each measured rows.
func TestDBScenarios(t *testing.T) {
	dsn := os.Getenv("COLCRYPT_TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and COLCRYPT_TEST_DATABASE_URL is not set")
		}
		t.Skip("COLCRYPT_TEST_DATABASE_URL is not set")
	}
	cfg := &config{
		scenarios: map[string]bool{"gorm": true, "copy": true, "migrate": true},
		tenants:   3, workers: 2, rounds: 1,
		dsn: dsn, dbDuration: 100 * time.Millisecond, copyRows: 300, migrateRows: 300,
	}
	res, note, err := runDB(context.Background(), cfg, func(string, ...any) {})
	if err != nil {
		t.Fatalf("runDB = %v", err)
	}
	if strings.HasPrefix(note, "skipped") {
		t.Fatalf("runDB skipped: %s", note)
	}
	want := map[string]int{"gorm insert": 2, "gorm select": 2, "pgx CopyFrom": 2, "migrate column": 4}
	got := map[string]int{}
	for _, r := range res {
		got[r.Scenario]++
		if r.Rows == 0 && !strings.Contains(r.Note, "not available") {
			t.Errorf("%s / %s: no rows measured (note %q)", r.Scenario, r.Variant, r.Note)
		}
		if r.Plaintext && r.Rows > 0 && r.VsPlaintext != 1 {
			t.Errorf("%s / %s: VsPlaintext = %v, want 1 for the reference", r.Scenario, r.Variant, r.VsPlaintext)
		}
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("scenario %q has %d variants, want %d", s, got[s], n)
		}
	}
}

func TestDBUnreachable(t *testing.T) {
	cfg := &config{scenarios: map[string]bool{"gorm": true}, tenants: 1, rounds: 1,
		dsn: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"}
	res, note, err := runDB(context.Background(), cfg, func(string, ...any) {})
	if err != nil || res != nil || !strings.HasPrefix(note, "skipped: no Postgres reachable") {
		t.Errorf("runDB(unreachable) = %v, %q, %v; want no results, a skip note, no error", res, note, err)
	}
}
