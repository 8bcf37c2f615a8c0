package testhelpers

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
)

// mysqlServerDSN is the admin DSN of the server MySQL(t) creates databases
// on: COLCRYPT_TEST_MYSQL_URL, else the shared container.
func mysqlServerDSN(t *testing.T) string {
	t.Helper()
	if u := os.Getenv(envMySQLURL); u != "" {
		return u
	}
	return mysqlContainer(t)
}

// mysqlDatabaseExists reports whether the server of admin has a database
// called name.
func mysqlDatabaseExists(t *testing.T, admin, name string) bool {
	t.Helper()
	cfg, err := parseMySQLDSN(admin)
	if err != nil {
		t.Fatalf("parseMySQLDSN(admin) err = %v", err)
	}
	db, err := openMySQLAdmin(context.Background(), cfg)
	if err != nil {
		t.Fatalf("openMySQLAdmin err = %v", err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatalf("count databases err = %v", err)
	}
	return n == 1
}

// TestMySQL checks the contract users rely on: a fresh, empty, writable
// utf8mb4 database per call, with parseTime and UTC, dropped when the test
// ends even if a connection inside a transaction is still open.
func TestMySQL(t *testing.T) {
	admin := mysqlServerDSN(t)
	var names []string
	t.Run("fresh", func(t *testing.T) {
		for range 2 {
			dsn := MySQL(t)
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatalf("mysql.ParseDSN(MySQL(t)) err = %v", err)
			}
			if !cfg.ParseTime || cfg.Loc != time.UTC {
				t.Errorf("MySQL(t) DSN: parseTime=%v loc=%v, want true, UTC", cfg.ParseTime, cfg.Loc)
			}
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				t.Fatalf("sql.Open(MySQL(t)) err = %v", err)
			}
			defer db.Close()
			var name, charset string
			var tables int
			err = db.QueryRow(`SELECT DATABASE(), @@character_set_database,
				(SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE())`).Scan(&name, &charset, &tables)
			if err != nil {
				t.Fatalf("query err = %v", err)
			}
			if !strings.HasPrefix(name, "colcrypt_test_") || tables != 0 || charset != "utf8mb4" {
				t.Errorf("MySQL(t): database %q (%s) with %d tables, want an empty utf8mb4 colcrypt_test_* database", name, charset, tables)
			}
			if _, err := db.Exec("CREATE TABLE t (id int PRIMARY KEY, at DATETIME(6) NOT NULL)"); err != nil {
				t.Fatalf("CREATE TABLE err = %v", err)
			}
			at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
			if _, err := db.Exec("INSERT INTO t VALUES (1, ?)", at); err != nil {
				t.Fatalf("INSERT err = %v", err)
			}
			var got time.Time
			if err := db.QueryRow("SELECT at FROM t WHERE id = 1").Scan(&got); err != nil || !got.Equal(at) || got.Location() != time.UTC {
				t.Errorf("SELECT at = %v, %v; want %v in UTC", got, err, at)
			}
			// Left inside a transaction that holds the table's metadata
			// lock: the drop must still go through.
			tx, err := db.Begin()
			if err != nil {
				t.Fatalf("Begin err = %v", err)
			}
			if _, err := tx.Exec("UPDATE t SET at = ? WHERE id = 1", at); err != nil {
				t.Fatalf("UPDATE err = %v", err)
			}
			names = append(names, name)
		}
		if len(names) == 2 && names[0] == names[1] {
			t.Errorf("two MySQL(t) calls gave the same database %q", names[0])
		}
	})
	if len(names) != 2 {
		t.Fatalf("subtest created %d databases, want 2", len(names))
	}
	for _, name := range names {
		if mysqlDatabaseExists(t, admin, name) {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestOpenMySQL(t *testing.T) {
	db := OpenMySQL(t)
	if _, err := db.Exec("CREATE TABLE kv (k VARCHAR(16) PRIMARY KEY, v VARBINARY(64))"); err != nil {
		t.Fatalf("CREATE TABLE err = %v", err)
	}
	want := []byte{0, 1, '\'', '\\', 0xff}
	if _, err := db.Exec("INSERT INTO kv VALUES (?, ?)", "a", want); err != nil {
		t.Fatalf("INSERT err = %v", err)
	}
	var got []byte
	if err := db.QueryRow("SELECT v FROM kv WHERE k = ?", "a").Scan(&got); err != nil {
		t.Fatalf("SELECT err = %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("SELECT v = %x, want %x", got, want)
	}
}

// TestMySQLNoServer: a server that is not there is "unavailable", never a
// pass, and the message does not show the password.
func TestMySQLNoServer(t *testing.T) {
	// Port 1 on loopback: nothing listens there, the dial fails at once.
	t.Setenv(envMySQLURL, "root:s3cret@tcp(127.0.0.1:1)/test?timeout=2s")
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { MySQL(tb) })
		msg := r.skipped + r.failed
		if (ci == "true") != (r.failed != "") || !strings.Contains(msg, "no MySQL at "+envMySQLURL) {
			t.Errorf("CI=%q: MySQL(no server): skipped %q, failed %q; want a skip, or a failure under CI", ci, r.skipped, r.failed)
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("CI=%q: message %q shows the password", ci, msg)
		}
	}
}

// TestMySQLBadDSN: a malformed COLCRYPT_TEST_MYSQL_URL is a mistake to fix,
// so it fails even outside CI.
func TestMySQLBadDSN(t *testing.T) {
	for _, dsn := range []string{
		"mysql://root@127.0.0.1:3306/test",
		"root@tcp(127.0.0.1:3306/test",
		"root@tcp(127.0.0.1:3306)/test?parseTime=maybe",
	} {
		t.Setenv(envMySQLURL, dsn)
		t.Setenv("CI", "")
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { MySQL(tb) })
		if r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, envMySQLURL) {
			t.Errorf("MySQL(%s=%q): skipped %q, failed %q; want a failure naming the variable", envMySQLURL, dsn, r.skipped, r.failed)
		}
	}
}

func TestRedactMySQLDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"u:secret@tcp(h:3306)/db?parseTime=true", "u:xxxxx@tcp(h:3306)/db?parseTime=true"},
		{"u@tcp(h:3306)/db", "u@tcp(h:3306)/db"},
		{"mysql://u:secret@h/db", "xxxxx@h/db"},
	}
	for _, tt := range tests {
		if got := redactMySQLDSN(tt.in); got != tt.want {
			t.Errorf("redactMySQLDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// resetSharedMySQL sets the shared MySQL container state aside for a test
// and puts it back when the test ends.
func resetSharedMySQL(t *testing.T) {
	t.Helper()
	sharedMySQL.mu.Lock()
	saved := struct {
		tried          bool
		ctr            *tcmysql.MySQLContainer
		dsn            string
		info           containerInfo
		err, dockerErr error
	}{sharedMySQL.tried, sharedMySQL.ctr, sharedMySQL.dsn, sharedMySQL.info, sharedMySQL.err, sharedMySQL.dockerErr}
	sharedMySQL.tried, sharedMySQL.ctr, sharedMySQL.dsn, sharedMySQL.info, sharedMySQL.err, sharedMySQL.dockerErr = false, nil, "", containerInfo{}, nil, nil
	sharedMySQL.mu.Unlock()
	t.Cleanup(func() {
		dockerHealth = providerHealth
		runMySQLContainer = runMySQLContainerDocker
		sharedMySQL.mu.Lock()
		sharedMySQL.tried, sharedMySQL.ctr, sharedMySQL.dsn, sharedMySQL.info, sharedMySQL.err, sharedMySQL.dockerErr = saved.tried, saved.ctr, saved.dsn, saved.info, saved.err, saved.dockerErr
		sharedMySQL.mu.Unlock()
	})
}

// TestMySQLNoDocker: without COLCRYPT_TEST_MYSQL_URL and without Docker,
// MySQL skips, or fails under CI=true, saying which variable to set; the
// failed start is remembered, not retried per test.
func TestMySQLNoDocker(t *testing.T) {
	t.Setenv(envMySQLURL, "")
	t.Setenv(envContainersDisabled, "")
	resetSharedMySQL(t)
	calls := 0
	dockerHealth = func(context.Context) error { calls++; return errors.New("no daemon at unix:///var/run/docker.sock") }
	runMySQLContainer = func(context.Context, string, string) (*tcmysql.MySQLContainer, string, error) {
		t.Error("runMySQLContainer called without Docker")
		return nil, "", errors.New("unreachable")
	}
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { MySQL(tb) })
		msg := r.skipped + r.failed
		if !strings.Contains(msg, envMySQLURL) || !strings.Contains(msg, "Docker is not available") || !strings.Contains(msg, "no daemon") {
			t.Errorf("CI=%q: MySQL without server or Docker: message %q, want one naming %s and why Docker is unavailable", ci, msg, envMySQLURL)
		}
		if (ci == "true") != (r.failed != "") {
			t.Errorf("CI=%q: MySQL without server or Docker: skipped %q, failed %q; want a failure only under CI", ci, r.skipped, r.failed)
		}
	}
	if calls != 1 {
		t.Errorf("Docker health checked %d times for two tests, want 1 (the answer is remembered)", calls)
	}
}

// TestMySQLImageUnavailable: Docker is there but the image cannot be had
// (no registry): a failure even outside CI, naming the image and the
// variables that fix it.
func TestMySQLImageUnavailable(t *testing.T) {
	t.Setenv(envMySQLURL, "")
	t.Setenv(envContainersDisabled, "")
	t.Setenv(envMySQLImage, "example.invalid/mariadb:10.11")
	resetSharedMySQL(t)
	dockerHealth = func(context.Context) error { return nil }
	var gotImage string
	runMySQLContainer = func(_ context.Context, image, password string) (*tcmysql.MySQLContainer, string, error) {
		gotImage = image
		if len(password) < 16 {
			t.Errorf("container root password %d characters long, want a random one of at least 16", len(password))
		}
		return nil, "", errors.New("pull access denied: dial tcp: lookup example.invalid: no such host")
	}
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { MySQL(tb) })
		for _, want := range []string{"example.invalid/mariadb:10.11", "pull access denied", envMySQLURL, envMySQLImage} {
			if !strings.Contains(r.failed, want) {
				t.Errorf("CI=%q: MySQL with an unpullable image: failed %q, want it to mention %q", ci, r.failed, want)
			}
		}
		if r.skipped != "" {
			t.Errorf("CI=%q: MySQL with an unpullable image skipped (%q), want a failure", ci, r.skipped)
		}
	}
	if gotImage != "example.invalid/mariadb:10.11" {
		t.Errorf("container image = %q, want the one %s names", gotImage, envMySQLImage)
	}
}

// TestMySQLContainersDisabled: the CI switch turns the container path off;
// MySQL with no server then fails under CI and skips elsewhere, with the
// reason.
func TestMySQLContainersDisabled(t *testing.T) {
	t.Setenv(envMySQLURL, "")
	t.Setenv(envContainersDisabled, "dockerd did not start")
	resetSharedMySQL(t)
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { MySQL(tb) })
		msg := r.skipped + r.failed
		if !strings.Contains(msg, "dockerd did not start") || !strings.Contains(msg, envMySQLURL) {
			t.Errorf("CI=%q: message %q, want the reason and %s", ci, msg, envMySQLURL)
		}
		if (ci == "true") != (r.failed != "") {
			t.Errorf("CI=%q: skipped %q, failed %q; want a failure only under CI", ci, r.skipped, r.failed)
		}
	}
}
