package testhelpers

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
)

// TestMain terminates the shared Postgres container when the tests end.
func TestMain(m *testing.M) { Main(m) }

// TestPostgresContainer runs the testcontainers path even where
// COLCRYPT_TEST_DATABASE_URL names a server: it starts (or reuses) this
// binary's container, checks that the URL leads into it, and round-trips a
// row. CI runs it with -v first, so its log shows the container.
func TestPostgresContainer(t *testing.T) {
	u := containerDatabase(t)
	info := shared.info
	t.Logf("Postgres %s; test database %s", info, redactURL(u))
	if info.ID == "" {
		t.Fatalf("containerDatabase(t) returned a URL but recorded no container")
	}

	ctx := context.Background()
	state, err := shared.ctr.State(ctx)
	if err != nil || !state.Running {
		t.Fatalf("container %s State() = %+v, %v; want running", info.ID, state, err)
	}

	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("pgx.Connect(containerDatabase(t)) err = %v", err)
	}
	defer c.Close(ctx)

	// The server behind the URL is the container's: its data directory is
	// the image's PGDATA and it listens on 5432 inside, behind a mapped
	// host port.
	inspect, err := shared.ctr.Inspect(ctx)
	if err != nil {
		t.Fatalf("Inspect() err = %v", err)
	}
	pgdata := ""
	for _, e := range inspect.Config.Env {
		if v, ok := strings.CutPrefix(e, "PGDATA="); ok {
			pgdata = v
		}
	}
	var dataDir, db string
	var serverPort int
	err = c.QueryRow(ctx, "SELECT current_setting('data_directory'), inet_server_port(), current_database()").
		Scan(&dataDir, &serverPort, &db)
	if err != nil {
		t.Fatalf("query server settings err = %v", err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatalf("url.Parse(containerDatabase(t)) err = %v", err)
	}
	mapped, err := shared.ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		t.Fatalf("MappedPort(5432/tcp) err = %v", err)
	}
	if pgdata == "" || dataDir != pgdata || serverPort != 5432 || parsed.Port() != mapped.Port() {
		t.Errorf("server: data_directory %q, port %d, URL port %s; want the image's PGDATA %q, 5432, mapped port %s",
			dataDir, serverPort, parsed.Port(), pgdata, mapped.Port())
	}
	if !strings.HasPrefix(db, "colcrypt_test_") {
		t.Errorf("current_database() = %q, want a fresh colcrypt_test_* database", db)
	}

	if _, err := c.Exec(ctx, "CREATE TABLE secrets (id int PRIMARY KEY, v bytea NOT NULL)"); err != nil {
		t.Fatalf("CREATE TABLE err = %v", err)
	}
	want := []byte("\x00colcrypt\xff")
	if _, err := c.Exec(ctx, "INSERT INTO secrets VALUES (1, $1)", want); err != nil {
		t.Fatalf("INSERT err = %v", err)
	}
	var got []byte
	if err := c.QueryRow(ctx, "SELECT v FROM secrets WHERE id = 1").Scan(&got); err != nil {
		t.Fatalf("SELECT err = %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("SELECT v = %x, want %x", got, want)
	}

	// A second database comes from the same container: one per binary.
	u2 := containerDatabase(t)
	p2, _ := url.Parse(u2)
	if shared.info.ID != info.ID || p2.Host != parsed.Host || p2.Path == parsed.Path {
		t.Errorf("second containerDatabase(t) = container %s, host %s, db %s; want container %s, host %s, another db",
			shared.info.ID, p2.Host, p2.Path, info.ID, parsed.Host)
	}
}

// TestContainersDisabled: the CI switch makes the container test skip with
// its reason, while Postgres(t) with no server still fails under CI.
func TestContainersDisabled(t *testing.T) {
	t.Setenv(envContainersDisabled, "dockerd did not start")
	t.Setenv(envDatabaseURL, "")

	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)

		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { containerDatabase(tb) })
		if !strings.Contains(r.skipped, "deliberately disabled") || !strings.Contains(r.skipped, "dockerd did not start") || r.failed != "" {
			t.Errorf("CI=%q: containerDatabase: skipped %q, failed %q; want a skip that gives the reason", ci, r.skipped, r.failed)
		}

		r = &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { Postgres(tb) })
		if ci == "true" && (r.failed == "" || r.skipped != "") {
			t.Errorf("CI=true: Postgres with no server: skipped %q, failed %q; want a failure", r.skipped, r.failed)
		}
		if ci == "" && (r.skipped == "" || r.failed != "") {
			t.Errorf("CI unset: Postgres with no server: skipped %q, failed %q; want a skip", r.skipped, r.failed)
		}
	}
}

// TestNoDocker: without a Docker daemon the container path skips, and fails
// under CI=true; the failed start is remembered, not retried per test.
func TestNoDocker(t *testing.T) {
	t.Setenv(envContainersDisabled, "")
	// Set the shared container aside (this binary may have one running) and
	// put it back afterwards.
	shared.mu.Lock()
	saved := struct {
		tried          bool
		ctr            *postgres.PostgresContainer
		url            string
		info           containerInfo
		err, dockerErr error
	}{shared.tried, shared.ctr, shared.url, shared.info, shared.err, shared.dockerErr}
	shared.tried, shared.ctr, shared.url, shared.info, shared.err, shared.dockerErr = false, nil, "", containerInfo{}, nil, nil
	shared.mu.Unlock()
	calls := 0
	dockerHealth = func(context.Context) error { calls++; return errors.New("no daemon at unix:///var/run/docker.sock") }
	t.Cleanup(func() {
		dockerHealth = providerHealth
		shared.mu.Lock()
		shared.tried, shared.ctr, shared.url, shared.info, shared.err, shared.dockerErr = saved.tried, saved.ctr, saved.url, saved.info, saved.err, saved.dockerErr
		shared.mu.Unlock()
	})

	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &tbRecorder{TB: t}
		r.run(func(tb testing.TB) { containerDatabase(tb) })
		msg := r.skipped + r.failed
		if !strings.Contains(msg, "Docker is not available") || !strings.Contains(msg, "no daemon") {
			t.Errorf("CI=%q: containerDatabase without Docker: message %q, want one that says Docker is not available and why", ci, msg)
		}
		if (ci == "true") != (r.failed != "") {
			t.Errorf("CI=%q: containerDatabase without Docker: skipped %q, failed %q; want a failure only under CI", ci, r.skipped, r.failed)
		}
	}
	if calls != 1 {
		t.Errorf("Docker health checked %d times for two tests, want 1 (the answer is remembered)", calls)
	}
}

func TestProcessAlive(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("processAlive is Unix-only; removeOrphans does not run on Windows")
	}
	cmd := exec.Command("sh", "-c", "exit 0")
	if err := cmd.Run(); err != nil {
		t.Fatalf("run sh: %v", err)
	}
	tests := []struct {
		pid  int
		want bool
	}{
		{os.Getpid(), true},
		{1, true}, // init: alive, and EPERM for non-root users
		{cmd.Process.Pid, false},
		{0, false},
		{-1, false},
	}
	for _, tt := range tests {
		if got := processAlive(tt.pid); got != tt.want {
			t.Errorf("processAlive(%d) = %v, want %v", tt.pid, got, tt.want)
		}
	}
}

// TestRemoveOrphans: a container labeled with a dead owner is removed; one
// of a live owner, and this binary's own, are not.
func TestRemoveOrphans(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("removeOrphans does not run on Windows")
	}
	if reason := os.Getenv(envContainersDisabled); reason != "" {
		t.Skipf("testcontainers path deliberately disabled (%s=%q); this test did NOT run", envContainersDisabled, reason)
	}
	postgresContainer(t) // the shared container, which must survive
	ctx := context.Background()

	dead := exec.Command("sh", "-c", "exit 0")
	if err := dead.Run(); err != nil {
		t.Fatalf("run sh: %v", err)
	}
	host, _ := os.Hostname()
	create := func(pid int) string {
		t.Helper()
		c, err := testcontainers.Run(ctx, shared.info.Image,
			testcontainers.WithNoStart(),
			testcontainers.WithLabels(map[string]string{
				labelOwner:     "postgres",
				labelOwnerHost: host,
				labelOwnerPID:  strconv.Itoa(pid),
			}))
		if err != nil {
			t.Fatalf("create labeled container: %v", err)
		}
		t.Cleanup(func() { _ = c.Terminate(context.Background()) })
		return c.GetContainerID()
	}
	orphan := create(dead.Process.Pid)
	live := create(os.Getppid()) // the go command: alive while we run

	removeOrphans(ctx)

	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		t.Fatalf("NewDockerProvider: %v", err)
	}
	defer p.Close()
	list, err := p.Client().ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelOwner),
	})
	if err != nil {
		t.Fatalf("ContainerList: %v", err)
	}
	present := map[string]bool{}
	for _, c := range list.Items {
		present[c.ID] = true
	}
	if present[orphan] {
		t.Errorf("removeOrphans kept container %.12s of dead pid %d", orphan, dead.Process.Pid)
	}
	if !present[live] {
		t.Errorf("removeOrphans removed container %.12s of live pid %d", live, os.Getppid())
	}
	if !present[shared.info.ID] {
		t.Errorf("removeOrphans removed this binary's shared container %.12s", shared.info.ID)
	}
}
