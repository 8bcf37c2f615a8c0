package faulttest_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// The environment of the key changer process: this test binary started
// again, which makes one key change through its own Store and exits.
const (
	envKeyChange    = "COLCRYPT_FAULTTEST_KEY_CHANGE" // "shred" or "rotate"
	envKeyChangeDSN = "COLCRYPT_FAULTTEST_KEY_CHANGE_DSN"
	envKeyChangeKEK = "COLCRYPT_FAULTTEST_KEY_CHANGE_KEK"
)

// keyChangeTenant is the tenant the key changer process changes.
const keyChangeTenant = "tenant-t"

// runKeyChange is the key changer process's main: it opens its own pool
// and Store on the database, applies the change, prints "done" and
// returns the exit code.
func runKeyChange(op string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "key changer:", err); return 1 }
	db, err := sql.Open("pgx", os.Getenv(envKeyChangeDSN))
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	kek, err := kms.Open(ctx, os.Getenv(envKeyChangeKEK))
	if err != nil {
		return fail(err)
	}
	defer kek.Close()
	keys, err := keystore.New(db, kek)
	if err != nil {
		return fail(err)
	}
	defer keys.Close()
	switch op {
	case "shred":
		err = keys.Shred(ctx, keyChangeTenant)
	case "rotate":
		_, err = keys.Rotate(ctx, keyChangeTenant)
	default:
		err = fmt.Errorf("unknown change %q", op)
	}
	if err != nil {
		return fail(err)
	}
	fmt.Println("done")
	return 0
}

// changeInOtherProcess runs the key changer process and returns when it
// printed that its change committed, with a function that waits for the
// process to exit (its Close and teardown are not part of the change).
func changeInOtherProcess(t *testing.T, op, dsn, kekURI string) (time.Time, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envKeyChange+"="+op, envKeyChangeDSN+"="+dsn, envKeyChangeKEK+"="+kekURI)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the key changer process: %v", err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	committed := time.Now()
	wait := func() {
		t.Helper()
		if err := cmd.Wait(); err != nil || line != "done\n" {
			t.Fatalf("key changer process %s: %v, printed %q; stderr: %s", op, err, line, stderr.String())
		}
	}
	if line != "done\n" {
		wait()
	}
	return committed, wait
}

// TestKeyEventsAcrossProcesses: another OS process shreds or rotates a
// tenant whose key this process holds warm under an hour's cache TTL;
// this process refuses the shredded tenant, or seals under the new
// version, within a second of the change committing (LISTEN/NOTIFY).
func TestKeyEventsAcrossProcesses(t *testing.T) {
	dsn := testhelpers.Postgres(t)
	srv, kek := startKMS(t)
	raw := openKeyDB(t, dsn)
	createKeyTable(t, raw)
	var (
		mu      sync.Mutex
		applied []time.Time // when this process applied a change of the tenant to its cache
	)
	keys := newStore(t, raw, kek, keystore.WithTuning(keystore.Tuning{CacheTTL: time.Hour}), keystore.WithKeyEvents(100*time.Millisecond),
		keystore.WithTelemetry(keystore.Telemetry{Observer: func(e keystore.Event) {
			if e.Kind == "key-change" && e.Tenant == keyChangeTenant {
				mu.Lock()
				applied = append(applied, time.Now())
				mu.Unlock()
			}
		}}))
	ctx := context.Background()
	const within = time.Second // issue 15's bound for Postgres

	for _, tc := range []struct {
		op   string
		done func() bool
	}{
		{"rotate", func() bool {
			c, err := keys.ActiveCipher(ctx, keyChangeTenant, "patients", "name")
			return err == nil && c.Version() == 2
		}},
		{"shred", func() bool {
			_, err := keys.ActiveCipher(ctx, keyChangeTenant, "patients", "name")
			return errors.Is(err, keystore.ErrKeyDestroyed)
		}},
	} {
		if tc.done() {
			t.Fatalf("%s: already seen before the change", tc.op)
		}
		warm, err := keys.ActiveCipher(ctx, keyChangeTenant, "patients", "name")
		if err != nil {
			t.Fatalf("%s: warm the tenant: %v", tc.op, err)
		}
		mu.Lock()
		applied = applied[:0]
		mu.Unlock()
		committed, wait := changeInOtherProcess(t, tc.op, dsn, srv.KeyURI(kekName))
		for !tc.done() {
			if time.Since(committed) > 30*time.Second {
				t.Fatalf("%s in another process: not seen 30s after it committed (cache TTL 1h)", tc.op)
			}
			time.Sleep(time.Millisecond)
		}
		seen := time.Since(committed)
		wait()
		mu.Lock()
		var reached time.Duration
		if len(applied) > 0 {
			reached = applied[0].Sub(committed)
		}
		mu.Unlock()
		t.Logf("%s in another process: in this process's cache %v after it committed, seen by a seal %v after (version %d before)",
			tc.op, reached.Round(time.Millisecond), seen.Round(time.Millisecond), warm.Version())
		if seen > within {
			t.Errorf("%s in another process seen by a seal %v after it committed, want within %v", tc.op, seen, within)
		}
	}
}

// TestKeyEventsNoLeak: a Store whose listener was killed and came back
// leaves no goroutine behind after Close.
func TestKeyEventsNoLeak(t *testing.T) {
	dsn := testhelpers.Postgres(t)
	_, kek := startKMS(t)
	raw := openKeyDB(t, dsn)
	createKeyTable(t, raw)
	admin := openKeyDB(t, dsn)
	listener := func() (pid int) {
		err := admin.QueryRow(`SELECT COALESCE(MAX(pid), 0) FROM pg_stat_activity WHERE query = 'LISTEN "colcrypt_keys_events"' AND datname = current_database()`).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	before := goroutines()
	keys, err := keystore.New(raw, kek, keystore.WithKeyEvents(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Active(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	first := waitPID(t, listener, 0)
	if _, err := admin.Exec(`SELECT pg_terminate_backend($1)`, first); err != nil {
		t.Fatal(err)
	}
	waitPID(t, listener, first)
	keys.Close()
	checkNoLeak(t, before, 10*time.Second)
}

// createKeyTable creates the default key table and its audit trail.
func createKeyTable(t *testing.T, raw *sql.DB) {
	t.Helper()
	if err := keystore.CreateTable(context.Background(), raw, keystore.WithDialect("postgres")); err != nil {
		t.Fatalf("keystore.CreateTable: %v", err)
	}
}

// waitPID waits until pid() returns a listener other than not and 0.
func waitPID(t *testing.T, pid func() int, not int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p := pid(); p != 0 && p != not {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the key events listener")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
