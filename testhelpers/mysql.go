package testhelpers

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql" // registers the "mysql" database/sql driver
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Environment variables of the MySQL/MariaDB helpers.
const (
	// envMySQLURL names a MySQL or MariaDB server for tests, as a
	// go-sql-driver/mysql DSN (not a URL), e.g.
	// root@tcp(127.0.0.1:3306)/test?parseTime=true. The user must be
	// allowed to create and drop databases. Each test gets a fresh database
	// on it, dropped when the test ends.
	envMySQLURL = "COLCRYPT_TEST_MYSQL_URL"

	// envMySQLImage names the image the testcontainers path starts when
	// envMySQLURL is unset; default defaultMySQLImage. Official mysql
	// images work too: both read the MYSQL_* variables testcontainers'
	// mysql module sets.
	envMySQLImage = "COLCRYPT_TEST_MYSQL_IMAGE"
)

// defaultMySQLImage is the image started when envMySQLImage is unset: the
// MariaDB LTS that Debian 12 ships, so a container test and a test against
// the distribution's server see the same SQL.
const defaultMySQLImage = "mariadb:10.11"

// MySQL returns a go-sql-driver/mysql DSN of a fresh, empty MySQL or
// MariaDB database for t, dropped by t.Cleanup. With COLCRYPT_TEST_MYSQL_URL
// set, the database is created on that server; otherwise a container is
// started with testcontainers-go (image COLCRYPT_TEST_MYSQL_IMAGE). Without
// either, t is skipped, or fails under CI=true. Docker without the image
// (no registry to pull it from) is a failure, naming the variables that fix
// it.
//
// The DSN keeps the parameters of COLCRYPT_TEST_MYSQL_URL and sets
// parseTime=true and loc=UTC, so DATETIME columns scan into time.Time in
// UTC. The database's character set is utf8mb4 under the server's default
// collation for it, which is case-insensitive, as in most applications'
// databases.
func MySQL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(envMySQLURL)
	if base == "" {
		base = mysqlContainer(t)
	}
	return freshMySQLDatabase(t, base)
}

// OpenMySQL is MySQL opened with database/sql and the "mysql" driver,
// closed by t.Cleanup.
func OpenMySQL(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", MySQL(t))
	if err != nil {
		t.Fatalf("sql.Open(mysql): %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// parseMySQLDSN parses a go-sql-driver DSN, refusing the URL form that
// ParseDSN would misread (mysql://u@h/db parses as user "mysql://u").
func parseMySQLDSN(dsn string) (*mysql.Config, error) {
	if strings.Contains(dsn, "://") {
		return nil, errors.New("want a go-sql-driver/mysql DSN such as root@tcp(127.0.0.1:3306)/test?parseTime=true, not a URL")
	}
	return mysql.ParseDSN(dsn)
}

// openMySQLAdmin connects to the server of cfg without selecting a
// database, on one connection, and checks that the server answers.
func openMySQLAdmin(ctx context.Context, cfg *mysql.Config) (*sql.DB, error) {
	admin := cfg.Clone()
	admin.DBName = ""
	if admin.Timeout == 0 {
		admin.Timeout = 10 * time.Second
	}
	// Sent as SET on connect: a DROP DATABASE blocked by a leaked
	// transaction gives up after seconds, not the default year.
	if admin.Params == nil {
		admin.Params = map[string]string{}
	}
	admin.Params["lock_wait_timeout"] = "10"
	c, err := mysql.NewConnector(admin)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// freshMySQLDatabase creates a uniquely named database on the server of
// base and returns base's DSN pointing at it.
func freshMySQLDatabase(t testing.TB, base string) string {
	t.Helper()
	cfg, err := parseMySQLDSN(base)
	if err != nil {
		t.Fatalf("testhelpers: %s: %v", envMySQLURL, err)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := openMySQLAdmin(ctx, cfg)
	if err != nil {
		unavailable(t, "no MySQL at %s=%s: %v", envMySQLURL, redactMySQLDSN(base), err)
		return ""
	}
	defer admin.Close()

	var b [6]byte
	rand.Read(b[:])
	name := "colcrypt_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropMySQLDatabase(t, cfg, name) })

	out := cfg.Clone()
	out.DBName = name
	out.ParseTime = true
	out.Loc = time.UTC
	return out.FormatDSN()
}

// dropMySQLDatabase drops a test database, first ending the connections
// still using it, as Postgres's DROP DATABASE … WITH (FORCE) does: a
// connection left inside a transaction would otherwise block the drop.
func dropMySQLDatabase(t testing.TB, cfg *mysql.Config, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := openMySQLAdmin(ctx, cfg)
	if err != nil {
		t.Logf("drop test database %s: %v", name, err)
		return
	}
	defer admin.Close()
	if rows, err := admin.QueryContext(ctx,
		"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", name); err == nil {
		var ids []uint64
		for rows.Next() {
			var id uint64
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		for _, id := range ids {
			// Best effort: the connection may be gone already.
			_, _ = admin.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10))
		}
	}
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		t.Logf("drop test database %s: %v", name, err)
	}
}

// redactMySQLDSN hides the password of a DSN for messages.
func redactMySQLDSN(dsn string) string {
	cfg, err := parseMySQLDSN(dsn)
	if err != nil {
		// Unparseable: show nothing that may hold the password.
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "xxxxx" + dsn[i:]
		}
		return dsn
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "xxxxx"
	}
	return cfg.FormatDSN()
}

// sharedMySQL is the one MySQL/MariaDB container of this test binary,
// started on first use like the Postgres one (see shared).
var sharedMySQL struct {
	mu        sync.Mutex
	tried     bool
	ctr       *tcmysql.MySQLContainer
	dsn       string // admin DSN of the container's server
	info      containerInfo
	err       error
	dockerErr error
}

// mysqlContainer returns the admin DSN of the shared container, starting
// it on first use.
func mysqlContainer(t testing.TB) string {
	t.Helper()
	if reason := os.Getenv(envContainersDisabled); reason != "" {
		unavailable(t, "%s is not set and the testcontainers path is disabled (%s=%q)",
			envMySQLURL, envContainersDisabled, reason)
		return ""
	}
	sharedMySQL.mu.Lock()
	defer sharedMySQL.mu.Unlock()
	if !sharedMySQL.tried {
		sharedMySQL.tried = true
		startSharedMySQL()
		if sharedMySQL.err == nil && sharedMySQL.dockerErr == nil {
			t.Logf("testhelpers: started MySQL %s", sharedMySQL.info)
		}
	}
	switch {
	case sharedMySQL.dockerErr != nil:
		unavailable(t, "%s is not set and Docker is not available for testcontainers: %v", envMySQLURL, sharedMySQL.dockerErr)
		return ""
	case sharedMySQL.err != nil:
		t.Fatalf("testhelpers: start MySQL container: %v", sharedMySQL.err)
		return ""
	}
	return sharedMySQL.dsn
}

// runMySQLContainer starts a MySQL/MariaDB container whose root password is
// password and returns its admin DSN. A variable so tests can fail it.
var runMySQLContainer = runMySQLContainerDocker

// startSharedMySQL fills in sharedMySQL. The caller holds its mu.
func startSharedMySQL() {
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()
	if err := dockerHealth(ctx); err != nil {
		sharedMySQL.dockerErr = err
		return
	}
	removeOrphans(ctx)

	image := os.Getenv(envMySQLImage)
	if image == "" {
		image = defaultMySQLImage
	}
	var pw [12]byte
	rand.Read(pw[:])
	begin := time.Now()
	ctr, dsn, err := runMySQLContainer(ctx, image, hex.EncodeToString(pw[:]))
	if err != nil {
		sharedMySQL.err = fmt.Errorf("image %s: %w (where no image registry is reachable, set %s to a MySQL or MariaDB server, e.g. root@tcp(127.0.0.1:3306)/test, or %s to a local image)",
			image, err, envMySQLURL, envMySQLImage)
		return
	}
	sharedMySQL.ctr = ctr
	sharedMySQL.dsn = dsn
	sharedMySQL.info = containerInfo{Image: image, Elapsed: time.Since(begin)}
	if ctr != nil {
		sharedMySQL.info.ID = ctr.GetContainerID()
	}
}

func runMySQLContainerDocker(ctx context.Context, image, password string) (*tcmysql.MySQLContainer, string, error) {
	host, _ := os.Hostname()
	adminDSN := func(addr string) string {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd = "root", password
		cfg.Net, cfg.Addr = "tcp", addr
		cfg.DBName = "colcrypt"
		cfg.Timeout = 5 * time.Second
		return cfg.FormatDSN()
	}
	ctr, err := tcmysql.Run(ctx, image,
		tcmysql.WithDatabase("colcrypt"),
		tcmysql.WithUsername("root"),
		tcmysql.WithPassword(password),
		testcontainers.WithLabels(map[string]string{
			labelOwner:     "mysql",
			labelOwnerHost: host,
			labelOwnerPID:  strconv.Itoa(os.Getpid()),
		}),
		// Ready means a real SQL round trip through the mapped port, for
		// mysql and mariadb images alike (the module's own wait matches a
		// log line only MySQL prints). Both images run their setup server
		// without networking, so TCP reaches only the final one.
		testcontainers.WithWaitStrategy(
			wait.ForSQL("3306/tcp", "mysql", func(host string, port network.Port) string {
				return adminDSN(net.JoinHostPort(host, port.Port()))
			}).WithStartupTimeout(2*time.Minute).WithPollInterval(200*time.Millisecond),
		),
	)
	if err != nil {
		if ctr != nil {
			_ = ctr.Terminate(context.Background(), testcontainers.StopTimeout(0))
		}
		return nil, "", err
	}
	ep, err := ctr.PortEndpoint(ctx, "3306/tcp", "")
	if err != nil {
		_ = ctr.Terminate(context.Background(), testcontainers.StopTimeout(0))
		return nil, "", fmt.Errorf("endpoint: %w", err)
	}
	return ctr, adminDSN(ep), nil
}

// terminateMySQLContainer stops and removes the shared MySQL container, if
// this test binary started one. [TerminateContainers] (and so [Main]) calls
// it.
func terminateMySQLContainer() error {
	sharedMySQL.mu.Lock()
	defer sharedMySQL.mu.Unlock()
	ctr := sharedMySQL.ctr
	sharedMySQL.ctr, sharedMySQL.dsn, sharedMySQL.tried, sharedMySQL.err, sharedMySQL.dockerErr = nil, "", false, nil, nil
	if ctr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerStopTimeout)
	defer cancel()
	if err := ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
		return fmt.Errorf("testhelpers: terminate MySQL container: %w", err)
	}
	return nil
}
