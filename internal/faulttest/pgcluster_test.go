package faulttest_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"

	"github.com/colcrypt/colcrypt/testhelpers"
)

// pgCluster is a throwaway Postgres cluster of one test: initdb into a
// temp directory, a server on a free loopback port, stopped by t.Cleanup.
// Unlike testhelpers.Postgres it is the test's own, so the test may stop
// and restart it.
type pgCluster struct {
	bin  string // directory of initdb, pg_ctl
	dir  string // socket directory, log
	data string
	port int
	cred *syscall.Credential // nil: run as the current user
}

// pgBinDir finds the directory of initdb and pg_ctl: on PATH, else the
// newest /usr/lib/postgresql/<version>/bin (Debian and Ubuntu packages
// keep them off PATH).
func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", fmt.Errorf("initdb is neither on PATH nor in /usr/lib/postgresql/*/bin")
	}
	sort.Slice(found, func(i, j int) bool { return pgVersion(found[i]) > pgVersion(found[j]) })
	return filepath.Dir(found[0]), nil
}

// pgVersion is the major version in /usr/lib/postgresql/<v>/bin/initdb.
func pgVersion(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// startCluster creates and starts a cluster for t. Without the server
// binaries t is skipped, or fails under CI=true.
func startCluster(t *testing.T) *pgCluster {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		if testhelpers.InCI() {
			t.Fatalf("CI=true and no Postgres server binaries: %v", err)
		}
		t.Skipf("no Postgres server binaries, so no throwaway cluster to restart (this test did NOT run): %v", err)
	}
	c := &pgCluster{bin: bin, dir: t.TempDir()}
	c.data = filepath.Join(c.dir, "data")

	// initdb refuses to run as root (CI containers run as root): then the
	// cluster belongs to the postgres user, which needs to reach the
	// directory through t.TempDir's private parent.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, initdb needs a non-root user and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(filepath.Dir(c.dir), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.port = freePort(t)
	if out, err := c.pgctl("start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, c.serverLog())
	}
	t.Cleanup(func() {
		if out, err := c.pgctl("stop", "-m", "immediate"); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	})
	return c
}

// run runs one of the server binaries as the cluster's owner.
func (c *pgCluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// pgctl runs pg_ctl action on the cluster and waits for it to finish.
// The server listens on loopback only, with its socket in the cluster's
// directory; fsync is off because only a machine crash, which a test
// does not survive anyway, needs it (a crash of the server itself does
// not lose what reached the kernel).
func (c *pgCluster) pgctl(action string, args ...string) ([]byte, error) {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60", c.port, c.dir)
	all := append([]string{action, "-D", c.data, "-l", c.logPath(), "-w", "-t", "60", "-o", opts}, args...)
	return c.run("pg_ctl", all...)
}

func (c *pgCluster) logPath() string { return filepath.Join(c.dir, "server.log") }

// serverLog returns the server's log, for failure messages.
func (c *pgCluster) serverLog() string {
	b, _ := os.ReadFile(c.logPath())
	return string(b)
}

// url is the cluster's connection URL for database db.
func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restart restarts the cluster: mode "immediate" kills the server like a
// crash (the restart then replays the WAL), "fast" shuts it down cleanly.
// It returns once the server accepts connections again.
func (c *pgCluster) restart(mode string) error {
	if out, err := c.pgctl("restart", "-m", mode); err != nil {
		return fmt.Errorf("pg_ctl restart -m %s: %v\n%s", mode, err, out)
	}
	return nil
}
