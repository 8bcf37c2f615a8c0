package testhelpers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Environment variables read by the testcontainers path.
const (
	// envPostgresImage names the Postgres image to start; default
	// defaultPostgresImage. Where no image registry is reachable, build a
	// local one with scripts/build-postgres-image.sh and name it here.
	envPostgresImage = "COLCRYPT_TEST_POSTGRES_IMAGE"

	// envContainersDisabled, when non-empty, says why the testcontainers path
	// was deliberately switched off (CI sets it to the reason Docker could not
	// start); the container-path tests then skip, even under CI=true, with that
	// reason; [Postgres] without COLCRYPT_TEST_DATABASE_URL treats it as "no
	// Postgres" and fails under CI.
	envContainersDisabled = "COLCRYPT_TEST_CONTAINERS_DISABLED"
)

// defaultPostgresImage is the image started when envPostgresImage is unset.
const defaultPostgresImage = "postgres:16-alpine"

// Labels on the shared container. They let a later test binary on the same
// host remove a container whose owner died without terminating it (Ryuk, the
// testcontainers reaper, does this job where it can run; CI runs without it).
const (
	labelOwner     = "org.colcrypt.testhelpers"
	labelOwnerHost = "org.colcrypt.testhelpers.host"
	labelOwnerPID  = "org.colcrypt.testhelpers.pid"
)

const (
	containerStartTimeout = 3 * time.Minute
	containerStopTimeout  = 30 * time.Second
)

// shared is the one Postgres container of this test binary. Starting a
// container takes seconds, so every test shares it and gets its own database
// on it (freshDatabase). A failed start is remembered: the next test fails or
// skips with the same error at once instead of waiting minutes again.
var shared struct {
	mu        sync.Mutex
	tried     bool
	ctr       *postgres.PostgresContainer
	url       string        // admin URL of the container's database
	info      containerInfo // for logs
	err       error         // start failed: a real failure
	dockerErr error         // Docker not reachable: skip, or fail under CI
}

// containerInfo describes the shared container for logs.
type containerInfo struct {
	ID      string
	Image   string
	Elapsed time.Duration
}

func (i containerInfo) String() string {
	id := i.ID
	if len(id) > 12 {
		id = id[:12]
	}
	return fmt.Sprintf("container %s from image %s (ready in %s)", id, i.Image, i.Elapsed.Round(10*time.Millisecond))
}

// containerDatabase returns the URL of a fresh database, dropped by
// t.Cleanup, on this test binary's shared Postgres container, started with
// testcontainers-go on first use. Unlike [Postgres] it ignores
// COLCRYPT_TEST_DATABASE_URL: it is for tests of the container path itself.
//
// Without a reachable Docker daemon t is skipped, or fails under CI=true. With
// COLCRYPT_TEST_CONTAINERS_DISABLED set, t is skipped with its reason, under
// CI too: the switch is a deliberate, logged decision, not a silent skip.
//
// The container outlives t; end it with [TerminateContainers] or [Main] from
// TestMain.
func containerDatabase(t testing.TB) string {
	t.Helper()
	if reason := os.Getenv(envContainersDisabled); reason != "" {
		t.Skipf("testcontainers path deliberately disabled (%s=%q); this test did NOT run", envContainersDisabled, reason)
	}
	return freshDatabase(t, postgresContainer(t))
}

// postgresContainer returns the admin URL of the shared container, starting
// it on first use.
func postgresContainer(t testing.TB) string {
	t.Helper()
	if reason := os.Getenv(envContainersDisabled); reason != "" {
		unavailable(t, "%s is not set and the testcontainers path is disabled (%s=%q)",
			envDatabaseURL, envContainersDisabled, reason)
		return ""
	}

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.tried {
		shared.tried = true
		startShared()
		if shared.err == nil && shared.dockerErr == nil {
			t.Logf("testhelpers: started Postgres %s", shared.info)
		}
	}
	switch {
	case shared.dockerErr != nil:
		unavailable(t, "%s is not set and Docker is not available for testcontainers: %v", envDatabaseURL, shared.dockerErr)
		return ""
	case shared.err != nil:
		t.Fatalf("testhelpers: start Postgres container: %v", shared.err)
		return ""
	}
	return shared.url
}

// startShared starts the shared container and fills in shared. The caller
// holds shared.mu.
func startShared() {
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	defer cancel()

	if err := dockerHealth(ctx); err != nil {
		shared.dockerErr = err
		return
	}
	removeOrphans(ctx)

	image := os.Getenv(envPostgresImage)
	if image == "" {
		image = defaultPostgresImage
	}
	var pw [12]byte
	rand.Read(pw[:])
	password := hex.EncodeToString(pw[:])
	host, _ := os.Hostname()

	begin := time.Now()
	ctr, err := postgres.Run(ctx, image,
		postgres.WithDatabase("colcrypt"),
		postgres.WithUsername("postgres"),
		postgres.WithPassword(password),
		testcontainers.WithLabels(map[string]string{
			labelOwner:     "postgres",
			labelOwnerHost: host,
			labelOwnerPID:  strconv.Itoa(os.Getpid()),
		}),
		// Ready means a real SQL round trip through the mapped port. The
		// official image (and scripts/build-postgres-image.sh's) runs its
		// setup server on the Unix socket only, so a TCP connection can only
		// reach the final server. This works for images that log "ready to
		// accept connections" once or twice alike, unlike counting log lines.
		testcontainers.WithWaitStrategy(
			wait.ForSQL("5432/tcp", "pgx", func(host string, port network.Port) string {
				return (&url.URL{
					Scheme:   "postgres",
					User:     url.UserPassword("postgres", password),
					Host:     host + ":" + port.Port(),
					Path:     "/colcrypt",
					RawQuery: "sslmode=disable&connect_timeout=5",
				}).String()
			}).WithStartupTimeout(2*time.Minute).WithPollInterval(200*time.Millisecond),
		),
	)
	if err != nil {
		// A container that started but never became ready is removed here;
		// nothing else holds it.
		if ctr != nil {
			_ = ctr.Terminate(context.Background(), testcontainers.StopTimeout(0))
		}
		shared.err = fmt.Errorf("image %s: %w (without an image registry, build a local image with scripts/build-postgres-image.sh and set %s)",
			image, err, envPostgresImage)
		return
	}
	u, err := ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = ctr.Terminate(context.Background(), testcontainers.StopTimeout(0))
		shared.err = fmt.Errorf("connection string: %w", err)
		return
	}
	shared.ctr = ctr
	shared.url = u
	shared.info = containerInfo{ID: ctr.GetContainerID(), Image: image, Elapsed: time.Since(begin)}
}

// dockerHealth reports why testcontainers cannot reach a Docker daemon, or
// nil. A variable so tests can take Docker away.
var dockerHealth = providerHealth

// providerHealth asks testcontainers' Docker provider. testcontainers panics
// in some of its host-discovery paths; a panic here means "no Docker" too.
func providerHealth(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers panicked looking for Docker: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return p.Health(hctx)
}

// removeOrphans removes containers this package started on this host for a
// test binary that is no longer running: one without a TestMain calling
// [TerminateContainers], or one killed by -timeout. Containers of live
// processes (other packages' test binaries run in parallel) are left alone.
// Best effort: an error only means an orphan lives on.
func removeOrphans(ctx context.Context) {
	if runtime.GOOS == "windows" {
		return // no portable "is this pid alive"; Ryuk covers the usual setup
	}
	host, err := os.Hostname()
	if err != nil {
		return
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return
	}
	defer p.Close()
	cli := p.Client()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelOwner, labelOwnerHost+"="+host),
	})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		pid, err := strconv.Atoi(c.Labels[labelOwnerPID])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}

// processAlive reports whether pid names a running process (Unix).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = proc.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// TerminateContainers stops and removes the shared Postgres and MySQL
// containers, if this test binary started them. Call it after m.Run in
// TestMain (or use [Main]); t.Cleanup cannot, since a container outlives
// every single test. Without it, a container lives on until Ryuk reaps it
// or the next test binary on this host removes it as an orphan.
func TerminateContainers() error {
	return errors.Join(terminatePostgresContainer(), terminateMySQLContainer())
}

func terminatePostgresContainer() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	ctr := shared.ctr
	shared.ctr, shared.url, shared.tried, shared.err, shared.dockerErr = nil, "", false, nil, nil
	if ctr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerStopTimeout)
	defer cancel()
	// Throwaway data: no graceful shutdown to wait for.
	if err := ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
		return fmt.Errorf("testhelpers: terminate Postgres container: %w", err)
	}
	return nil
}

// Main runs the tests of m, terminates the shared containers and
// exits. Use it as a package's TestMain:
//
//	func TestMain(m *testing.M) { testhelpers.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := TerminateContainers(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}
