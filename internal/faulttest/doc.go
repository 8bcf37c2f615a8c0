// Package faulttest is colcrypt's fault-injection harness. It holds no
// code, only tests (and this comment): scenarios that show colcrypt keeps
// working, or fails cleanly and recovers, when the KMS or the database
// misbehaves. Nothing outside the tests imports it.
//
// Every scenario runs the real stack on loopback: the GORM plugin over
// pgx on a real Postgres, the key store, and the Cloud KMS driver
// (kms/gcpkms, the real cloud.google.com/go/kms client over gRPC) talking
// to testhelpers/insecurefakekms, whose fault switches do the injecting.
//
//	COLCRYPT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    go test -race ./internal/faulttest/
//
// One file per scenario:
//
//   - kms_outage_test.go: 8 workers on 50 tenants while the KMS answers
//     UNAVAILABLE for the middle third of the run. Cached tenants never
//     notice; a new tenant fails with a retryable error inside its
//     deadline and writes nothing; a stale-grace reader keeps reading; a
//     caller retrying through the outage succeeds within one maximum
//     backoff of the KMS coming back; every row ends as last written.
//   - kms_throttle_test.go: RESOURCE_EXHAUSTED on every second KMS call.
//     Everything succeeds, and the calls the fake saw add up exactly to
//     the key store's counters, within the retry budget.
//   - kms_slow_test.go: a KMS 2s slow against a 500ms deadline fails at
//     the deadline with context.DeadlineExceeded, leaks no goroutine, and
//     poisons nothing once the KMS is fast again.
//   - db_restart_test.go: a throwaway Postgres cluster (initdb in a temp
//     directory, run as the postgres user when the tests run as root) is
//     crash-restarted under a load of transactional writes. Callers see
//     errors during the restart, the pool recovers, and no row or
//     transaction is half-written.
//   - cache_pressure_test.go: 64 goroutines over 1,000 tenants with a cache
//     of 100 keys. Every value is right, KMS unwraps stay within cache
//     misses, and an evicted key is unusable.
//   - key_events_test.go: another OS process (this test binary started
//     again) rotates, then shreds, a tenant this process holds warm under
//     an hour's cache TTL; with keystore.WithKeyEvents this process seals
//     under the new version, then refuses the tenant, within a second of
//     each change committing. A Store whose listening connection was
//     killed and came back leaves no goroutine after Close.
//
// # Time
//
// The outage scenario lasts COLCRYPT_FAULT_DURATION (default 30s, at least
// 9s; or the test flag -faulttest.duration), with the outage scaled to the
// middle third; the package takes about a minute and a half in all with
// the defaults on two cores. The few time bounds asserted (a failure
// within the caller's deadline, a recovery within one maximum backoff)
// are correctness bounds on deadline propagation and backoff, each with
// a second or more of slack, not performance thresholds.
//
// # Database restarts
//
// db_restart_test.go needs the Postgres server binaries (initdb, pg_ctl;
// found on PATH or under /usr/lib/postgresql/*/bin). Without them the
// test is skipped, or fails under CI=true. initdb refuses to run as root,
// so as root the cluster is created and run as the "postgres" user.
//
// # Fuzzing
//
// scripts/fuzz.sh runs every fuzz target of the module for FUZZTIME each
// (default 60s); it is for developers and nightly jobs, not CI.
package faulttest
