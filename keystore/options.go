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
	defaultBreakerCool  = 30 * time.Second
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
	keyring    []*kms.Keeper // WithKeyring
	noUpgrade  bool          // WithoutUpgrade
	cooldown   time.Duration // Tuning.BreakerCooldown
	tenantKEK  func(tenant string) string
	now        func() time.Time
	observe    func(Event)
	policy     statePolicy

	purpose     string // the wrap context's purpose: dekPurpose unless indexFamily
	indexFamily bool   // the config of a Store's index key family

	keyEvents     bool          // WithKeyEvents
	keyEventsPoll time.Duration // WithKeyEvents
	listenRetry   time.Duration // first wait before listening again; tests set it

	meters        metric.MeterProvider
	tracers       trace.TracerProvider
	tenantMetrics bool
}

func defaults() config {
	return config{
		table:      defaultTable,
		purpose:    dekPurpose,
		ttl:        defaultCacheTTL,
		size:       defaultCacheSize,
		attempts:   defaultRetries,
		base:       defaultRetryBase,
		max:        defaultRetryMax,
		kmsTimeout: defaultKMSTimeout,
		cooldown:   defaultBreakerCool,
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
		return fmt.Errorf("keystore: KMS attempts must be at least 1, got %d", c.attempts)
	case c.base <= 0 || c.max < c.base:
		return fmt.Errorf("keystore: retry delays must satisfy 0 < base ≤ max, got %v, %v", c.base, c.max)
	case c.kmsTimeout <= 0:
		return fmt.Errorf("keystore: KMS timeout must be positive, got %v", c.kmsTimeout)
	case c.cooldown < 0:
		return fmt.Errorf("keystore: breaker cool-down must not be negative, got %v", c.cooldown)
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

// Tuning holds the key cache's and the KMS calls' knobs, for
// [WithTuning]. A zero field keeps its setting: the default, or what an
// earlier WithTuning set.
type Tuning struct {
	// CacheTTL is how long an unwrapped key, and a tenant's active
	// version, are used before the key table and the KMS are asked again
	// (default 5 minutes). It bounds how long a rotation, shred or
	// revoked KMS access elsewhere goes unnoticed by this process, and
	// how long a plaintext key stays in memory unused.
	CacheTTL time.Duration
	// CacheMaxKeys bounds the number of cached keys (tenant versions),
	// default 10,000. Past it the least recently used keys are dropped
	// (CLOCK approximation of LRU), and zeroed once no cipher they handed
	// out is in use.
	CacheMaxKeys int
	// CacheMaxBytes bounds the memory the cached keys keep, in bytes, as
	// well as their number: past either bound the least recently used
	// keys are dropped (default: no bound in bytes). The size is
	// accounted, not measured: each key counts 480 bytes and each
	// (table, column) cipher it handed out 990, estimates of the heap a
	// key and a randomized column's cipher keep on linux/amd64 (a
	// deterministic column keeps about 0.7 KB more, not counted). So a
	// Store with 10 encrypted columns per tenant holds about n / 10,380
	// tenants warm. A single key whose ciphers alone pass the bound stays
	// cached, since its caller is using it. Stats.CachedBytes reports the
	// accounted size.
	CacheMaxBytes int64
	// StaleGrace lets an expired key be served for up to this long past
	// its expiry while the KMS fails with a retryable error (default:
	// off). Each such use is counted in Stats.StaleServed and logged at
	// warning level; the KMS is tried again every CacheTTL/10 (between
	// 100ms and 30s). The key table is still read on every refresh, so a
	// shred is seen even during the grace.
	StaleGrace time.Duration
	// KMSAttempts, KMSRetryBase and KMSRetryMax say how retryable KMS
	// errors are retried: at most KMSAttempts calls in all, sleeping a
	// random time in [0, min(KMSRetryMax, KMSRetryBase·2^n)] before retry
	// n ("full jitter"), never past the caller's deadline. Defaults: 5
	// attempts, 50ms, 2s.
	KMSAttempts               int
	KMSRetryBase, KMSRetryMax time.Duration
	// KMSTimeout bounds each KMS call (default 30s); a call that times
	// out is retried like a retryable error while the caller still waits.
	KMSTimeout time.Duration
	// BreakerCooldown is how long a master key is tried last, after every
	// other key that holds a copy, once a call to it failed with a
	// retryable error or timed out (default 30s): a keyring fails over to
	// its other keys at the cost of one failed call per cool-down, not one
	// per cold key. When it has passed, one call probes the key again (see
	// WithKeyring).
	BreakerCooldown time.Duration
}

// WithTuning sets the key cache's and the KMS calls' knobs that t sets
// (its non-zero fields). A negative value makes New fail.
func WithTuning(t Tuning) Option {
	return func(c *config) {
		setNonZero(&c.ttl, t.CacheTTL)
		setNonZero(&c.size, t.CacheMaxKeys)
		setNonZero(&c.bytes, t.CacheMaxBytes)
		setNonZero(&c.grace, t.StaleGrace)
		setNonZero(&c.attempts, t.KMSAttempts)
		setNonZero(&c.base, t.KMSRetryBase)
		setNonZero(&c.max, t.KMSRetryMax)
		setNonZero(&c.kmsTimeout, t.KMSTimeout)
		setNonZero(&c.cooldown, t.BreakerCooldown)
	}
}

// setNonZero sets *dst to v unless v is zero.
func setNonZero[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// WithMasterKeys adds master keys the Store may unwrap with, beside the
// keeper given to New: older keys whose rows a Rewrap has not moved yet,
// or the per-tenant keys of TenantPolicy.KEK. A key table row is unwrapped
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

// withClock sets the clock the cache's expiry and the table's timestamps
// use, read on every call; for tests. Without it the table gets
// time.Now and the cache a coarse clock (see Store.Active). Retry sleeps
// use real time. A nil clock means the default.
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
