package keystore

import (
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// Defaults of the options.
const (
	defaultCacheTTL     = 5 * time.Minute
	defaultCacheSize    = 10_000
	defaultRetries      = 5
	defaultRetryBase    = 50 * time.Millisecond
	defaultRetryMax     = 2 * time.Second
	defaultKMSTimeout   = 30 * time.Second
	defaultStaleProbeLo = 100 * time.Millisecond
	defaultStaleProbeHi = 30 * time.Second
)

// An Option configures New.
type Option func(*config)

type config struct {
	table      string
	dialect    sqldialect.Dialect // 0: detect from the driver
	dialectErr error
	ttl        time.Duration
	size       int
	bytes      int64
	grace      time.Duration
	attempts   int
	base, max  time.Duration
	kmsTimeout time.Duration
	log        *slog.Logger
	masterKeys []*kms.Keeper
	tenantKEK  func(tenant string) string
	now        func() time.Time
	observe    func(Event)
	policy     statePolicy

	meters        metric.MeterProvider
	tracers       trace.TracerProvider
	tenantMetrics bool
}

func defaults() config {
	return config{
		table:      DefaultTable,
		ttl:        defaultCacheTTL,
		size:       defaultCacheSize,
		attempts:   defaultRetries,
		base:       defaultRetryBase,
		max:        defaultRetryMax,
		kmsTimeout: defaultKMSTimeout,
	}
}

func (c *config) validate() error {
	switch {
	case c.ttl <= 0:
		return fmt.Errorf("keystore: cache TTL must be positive, got %v", c.ttl)
	case c.size <= 0:
		return fmt.Errorf("keystore: cache size must be positive, got %d", c.size)
	case c.bytes < 0:
		return fmt.Errorf("keystore: cache bytes must not be negative, got %d", c.bytes)
	case c.grace < 0:
		return fmt.Errorf("keystore: stale grace must not be negative, got %v", c.grace)
	case c.attempts < 1:
		return fmt.Errorf("keystore: retry attempts must be at least 1, got %d", c.attempts)
	case c.base <= 0 || c.max < c.base:
		return fmt.Errorf("keystore: retry delays must satisfy 0 < base ≤ max, got %v, %v", c.base, c.max)
	case c.kmsTimeout <= 0:
		return fmt.Errorf("keystore: KMS timeout must be positive, got %v", c.kmsTimeout)
	case c.dialectErr != nil:
		return c.dialectErr
	}
	return validTable(c.table)
}

// WithTable names the key table (default "colcrypt_keys"): lower-case
// letters, digits and underscores, at most 48 bytes.
func WithTable(name string) Option { return func(c *config) { c.table = name } }

// WithDialect names the database family instead of detecting it from
// db's driver: "postgres" (or "postgresql", "pgx"), "mysql" (or
// "mariadb"), "sqlite" (or "sqlite3"). Detection knows pgx, lib/pq,
// go-sql-driver/mysql and the SQLite drivers; a driver wrapped by
// instrumentation (otelsql and the like) hides its type and needs this.
// New and CreateTable fail on an unknown name.
func WithDialect(name string) Option {
	return func(c *config) {
		d, err := sqldialect.Parse(name)
		if err != nil {
			c.dialect, c.dialectErr = 0, fmt.Errorf("keystore: WithDialect: %w", err)
			return
		}
		c.dialect, c.dialectErr = d, nil
	}
}

// resolveDialect detects the dialect from db's driver unless an option
// named it.
func (c *config) resolveDialect(db *sql.DB) error {
	if c.dialect != 0 || c.dialectErr != nil {
		return nil
	}
	d, err := sqldialect.Detect(db)
	if err != nil {
		return fmt.Errorf("keystore: %w; pass keystore.WithDialect", err)
	}
	c.dialect = d
	return nil
}

// WithCacheTTL sets how long an unwrapped key, and a tenant's active
// version, are used before the key table and the KMS are asked again
// (default 5 minutes). It bounds how long a rotation, shred or revoked
// KMS access elsewhere goes unnoticed by this process, and how long a
// plaintext key stays in memory unused.
func WithCacheTTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// WithCacheSize bounds the number of cached keys (tenant versions),
// default 10,000. Past it the least recently used keys are zeroed and
// dropped (CLOCK approximation of LRU).
func WithCacheSize(n int) Option { return func(c *config) { c.size = n } }

// WithCacheBytes bounds the memory the cached keys keep, in bytes, as
// well as their number (WithCacheSize): past either bound the least
// recently used keys are zeroed and dropped (default 0: no bound in
// bytes). The size is accounted, not measured: each key counts 640
// bytes and each (table, column) cipher it handed out 1,280, estimates
// of the heap a key and a randomized column's cipher keep on
// linux/amd64 (a deterministic column keeps about 0.7 KB more, not
// counted). So a Store with 10 encrypted columns per
// tenant holds about n / 13,440 tenants warm. A single key whose ciphers
// alone pass the bound stays cached, since its caller is using it.
// Stats.CachedBytes reports the accounted size.
func WithCacheBytes(n int64) Option { return func(c *config) { c.bytes = n } }

// WithStaleGrace lets an expired key be served for up to d past its
// expiry while the KMS fails with a retryable error (default 0: off).
// Each such use is counted in Stats.StaleServed and logged at warning
// level; the KMS is tried again every TTL/10 (between 100ms and 30s).
// The key table is still read on every refresh, so a shred is seen even
// during the grace.
func WithStaleGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithRetry sets how retryable KMS errors are retried: at most
// maxAttempts calls in all, sleeping a random time in [0, min(max,
// base·2^n)] before retry n ("full jitter"), never past the caller's
// deadline. Defaults: 5 attempts, 50ms, 2s.
func WithRetry(maxAttempts int, base, max time.Duration) Option {
	return func(c *config) { c.attempts, c.base, c.max = maxAttempts, base, max }
}

// WithKMSTimeout bounds each KMS call (default 30s); a call that times
// out is retried like a retryable error while the caller still waits.
func WithKMSTimeout(d time.Duration) Option { return func(c *config) { c.kmsTimeout = d } }

// WithLogger sets the logger: debug records for KMS calls, a warning for
// each stale serve, info for rotations, shreds and rewraps. No record
// holds key bytes. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMasterKeys adds master keys the Store may unwrap with, beside the
// keeper given to New: older keys whose rows a Rewrap has not moved yet,
// or the per-tenant keys of WithTenantKEK. A key table row is unwrapped
// only with the configured keeper its kek_uri names (compared by
// canonical name, see kms.Name); a row naming any other key fails with
// ErrUnknownMasterKey, and nothing a row names is ever opened or
// connected to: the table is data an attacker may write, so which KMS is
// called, how it is reached and which checks it skips come from the
// application alone. The keepers are the caller's to close, after the
// Store.
func WithMasterKeys(keepers ...*kms.Keeper) Option {
	return func(c *config) { c.masterKeys = append(c.masterKeys, keepers...) }
}

// WithTenantKEK gives tenants master keys of their own: the new keys of
// tenant t (its first key and each rotation) are wrapped under the master
// key named by uri(t), which must be a configured one (given to New or
// WithMasterKeys; else the key is not created and ErrUnknownMasterKey is
// returned); where uri returns "", under the keeper given to New. With a master key
// per tenant, destroying that key in the KMS makes a shred hold even for
// database backups that still contain the wrapped keys. uri must not
// depend on anything but the tenant, and the URI it returns is stored in
// the key table, so it must hold no secret.
func WithTenantKEK(uri func(tenant string) string) Option {
	return func(c *config) { c.tenantKEK = uri }
}

// withClock sets the clock the cache's expiry and the table's timestamps
// use, read on every call; for tests. Without it the table gets
// time.Now and the cache a coarse clock (see Store.Active). Retry sleeps
// use real time. A nil clock means the default.
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithObserver sets a hook called synchronously for every KMS call,
// stale serve, rotation, destroyed version, shred and key table state
// mismatch, never on a cache hit: the place to feed a metrics system
// other than OpenTelemetry, which WithMeterProvider and
// WithTracerProvider serve directly. It must be fast and must not call
// the Store.
func WithObserver(f func(Event)) Option { return func(c *config) { c.observe = f } }
