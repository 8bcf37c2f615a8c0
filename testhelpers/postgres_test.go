package testhelpers

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// tbRecorder is a testing.TB that records a skip or a failure instead of
// acting on it, so a test can check what a helper decided. Like the real
// thing, Skip and Fatal end the calling goroutine: call helpers through
// tbRecorder.run.
type tbRecorder struct {
	testing.TB // the real test, for everything not overridden (Cleanup, ...)
	skipped    string
	failed     string
}

func (r *tbRecorder) Helper()                  {}
func (r *tbRecorder) Logf(string, ...any)      {}
func (r *tbRecorder) Skip(args ...any)         { r.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (r *tbRecorder) Fatal(args ...any)        { r.failed = fmt.Sprint(args...); runtime.Goexit() }
func (r *tbRecorder) Skipf(f string, a ...any) { r.skipped = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *tbRecorder) Fatalf(f string, a ...any) {
	r.failed = fmt.Sprintf(f, a...)
	runtime.Goexit()
}

// run calls f(r) on its own goroutine and waits until it returns or ends
// by Skip or Fatal.
func (r *tbRecorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

// serverURL is the admin URL of the server Postgres(t) creates databases
// on: COLCRYPT_TEST_DATABASE_URL, else the shared container.
func serverURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv(envDatabaseURL); u != "" {
		return u
	}
	return postgresContainer(t)
}

// databaseExists reports whether the server at admin has a database name.
func databaseExists(t *testing.T, admin, name string) bool {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgx.Connect(admin) err = %v", err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatalf("count databases err = %v", err)
	}
	return n == 1
}

func TestInCI(t *testing.T) {
	tests := []struct {
		ci   string
		want bool
	}{
		{"true", true},
		{"TRUE", true},
		{"1", true},
		{"", false},
		{"false", false},
		{"0", false},
		{"yes", false},
	}
	for _, tt := range tests {
		t.Setenv("CI", tt.ci)
		if got := InCI(); got != tt.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tt.ci, got, tt.want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		ci       string
		wantSkip bool
	}{
		{"true", false},
		{"", true},
	}
	for _, tt := range tests {
		t.Setenv("CI", tt.ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { unavailable(tb, "no server at %s", "x") })
		if tt.wantSkip {
			if !strings.Contains(r.skipped, "no server at x") || r.failed != "" {
				t.Errorf("CI=%q: unavailable: skipped %q, failed %q; want a skip", tt.ci, r.skipped, r.failed)
			}
		} else {
			if !strings.Contains(r.failed, "no server at x") || r.skipped != "" {
				t.Errorf("CI=%q: unavailable: skipped %q, failed %q; want a failure", tt.ci, r.skipped, r.failed)
			}
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"host=h user=u", "host=h user=u"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPostgres checks the contract users rely on: a fresh, empty, writable
// database per call, dropped when the test ends.
func TestPostgres(t *testing.T) {
	admin := serverURL(t)
	var names []string
	t.Run("fresh", func(t *testing.T) {
		for range 2 {
			u := Postgres(t)
			ctx := context.Background()
			c, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatalf("pgx.Connect(Postgres(t)) err = %v", err)
			}
			defer c.Close(ctx)
			var name string
			var tables int
			err = c.QueryRow(ctx, `SELECT current_database(),
				(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables)
			if err != nil {
				t.Fatalf("query err = %v", err)
			}
			if !strings.HasPrefix(name, "colcrypt_test_") || tables != 0 {
				t.Errorf("Postgres(t): database %q with %d tables, want an empty colcrypt_test_* database", name, tables)
			}
			if _, err := c.Exec(ctx, "CREATE TABLE t (v text)"); err != nil {
				t.Errorf("CREATE TABLE err = %v", err)
			}
			names = append(names, name)
		}
		if len(names) == 2 && names[0] == names[1] {
			t.Errorf("two Postgres(t) calls gave the same database %q", names[0])
		}
	})
	if len(names) == 0 {
		t.Fatal("subtest created no database")
	}
	for _, name := range names {
		if databaseExists(t, admin, name) {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestOpenPostgres(t *testing.T) {
	db := OpenPostgres(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v bytea)"); err != nil {
		t.Fatalf("CREATE TABLE err = %v", err)
	}
	want := []byte{0, 1, 0xff}
	if _, err := db.ExecContext(ctx, "INSERT INTO kv VALUES ($1, $2)", "a", want); err != nil {
		t.Fatalf("INSERT err = %v", err)
	}
	var got []byte
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = $1", "a").Scan(&got); err != nil {
		t.Fatalf("SELECT err = %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("SELECT v = %x, want %x", got, want)
	}
}

// TestFreshDatabaseKeywordDSN covers a server named in keyword/value form
// rather than as a URL.
func TestFreshDatabaseKeywordDSN(t *testing.T) {
	admin := serverURL(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("url.Parse(admin) err = %v", err)
	}
	pw, _ := u.User.Password()
	dsn := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=%s sslmode=disable",
		u.Hostname(), u.Port(), u.User.Username(), pw, strings.TrimPrefix(u.Path, "/"))
	got := freshDatabase(t, dsn)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, got)
	if err != nil {
		t.Fatalf("pgx.Connect(freshDatabase(keyword DSN)) err = %v", err)
	}
	defer c.Close(ctx)
	var name string
	if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("query err = %v", err)
	}
	if !strings.HasPrefix(name, "colcrypt_test_") {
		t.Errorf("freshDatabase(keyword DSN) connects to %q, want a colcrypt_test_* database", name)
	}
}

// TestFreshDatabaseNoServer: a server that is not there is "unavailable",
// never a pass.
func TestFreshDatabaseNoServer(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the dial fails at once.
	const dead = "postgres://postgres:pw@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { freshDatabase(tb, dead) })
		msg := r.skipped + r.failed
		if (ci == "true") != (r.failed != "") || msg == "" {
			t.Errorf("CI=%q: freshDatabase(dead server): skipped %q, failed %q", ci, r.skipped, r.failed)
		}
		if strings.Contains(msg, ":pw@") {
			t.Errorf("CI=%q: message %q shows the password", ci, msg)
		}
	}
}
