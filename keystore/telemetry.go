package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/colcrypt/colcrypt/kms"
)

// instrumentationName names the meter and the tracer of this package, as
// the OpenTelemetry conventions ask: the import path.
const instrumentationName = "github.com/colcrypt/colcrypt/keystore"

// Metric and span attribute keys. None holds a key byte, a wrapped key
// or a value: only names (operation, driver, dialect, query) and, for
// spans or where the application opts in, the tenant and the version.
const (
	attrOperation = attribute.Key("colcrypt.kms.operation")
	attrDriver    = attribute.Key("colcrypt.kms.driver")
	attrOutcome   = attribute.Key("colcrypt.kms.outcome")
	attrAttempt   = attribute.Key("colcrypt.kms.attempt")
	attrTenant    = attribute.Key("colcrypt.tenant")
	attrVersion   = attribute.Key("colcrypt.key.version")
	attrQuery     = attribute.Key("colcrypt.keystore.query")
	attrErrorType = attribute.Key("error.type")
	attrDBSystem  = attribute.Key("db.system.name")
	attrTable     = attribute.Key("db.collection.name")
)

// Telemetry says where the Store reports what it does, for
// [WithTelemetry]. No report holds key bytes.
type Telemetry struct {
	// Logger gets debug records for KMS calls, a warning for each stale
	// serve, info for rotations, shreds and rewraps. Default: discard.
	Logger *slog.Logger
	// Observer is called synchronously for every KMS call, stale serve,
	// rotation, destroyed version, shred and key table state mismatch,
	// never on a cache hit: the place to feed a metrics system other than
	// OpenTelemetry. It must be fast and must not call the Store.
	Observer func(Event)
	// Meters is where the Store's metrics go (default: the global
	// provider, otel.GetMeterProvider, which records nothing unless the
	// application installs an SDK). The Store records only on a KMS call;
	// the cache counters are observed from the counters Stats reads, so a
	// warm seal or open does no metric work. New fails if the provider
	// refuses an instrument.
	Meters metric.MeterProvider
	// Tracers is where the Store's spans go (default: the global
	// provider, otel.GetTracerProvider). The Store starts a span for each
	// KMS call and each key table query, as a child of the caller's
	// context; never one per seal or open, which are too hot.
	Tracers trace.TracerProvider
	// TenantMetrics adds the tenant id as attribute colcrypt.tenant to the
	// KMS call metrics. Off by default: with many tenants it multiplies
	// the number of time series, which metric backends bill and cap.
	// Spans carry the tenant regardless.
	TenantMetrics bool
}

// WithTelemetry sets the reporting that t sets (its non-zero fields).
func WithTelemetry(t Telemetry) Option {
	return func(c *config) {
		if t.Logger != nil {
			c.log = t.Logger
		}
		if t.Observer != nil {
			c.observe = t.Observer
		}
		if t.Meters != nil {
			c.meters = t.Meters
		}
		if t.Tracers != nil {
			c.tracers = t.Tracers
		}
		c.tenantMetrics = c.tenantMetrics || t.TenantMetrics
	}
}

// telemetry is the Store's instruments. Built once in New; each KMS call
// and key table query uses them, nothing else does.
type telemetry struct {
	tracer        trace.Tracer
	kmsCalls      metric.Int64Counter
	kmsDuration   metric.Float64Histogram
	tenantMetrics bool
	dbSystem      attribute.KeyValue
	table         attribute.KeyValue
	reg           metric.Registration // the cache observers; nil if none
}

// newTelemetry creates the instruments. An instrument the provider
// refuses (a bad name for its SDK) is an error: a Store that silently
// records nothing would be worse than one that does not start.
func newTelemetry(cfg *config, ctr *counters, c *cache, breakersOpen func() int) (*telemetry, error) {
	mp, tp := cfg.meters, cfg.tracers
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(instrumentationName)
	t := &telemetry{
		tracer:        tp.Tracer(instrumentationName),
		tenantMetrics: cfg.tenantMetrics,
		dbSystem:      attrDBSystem.String(cfg.dialect.String()),
		table:         attrTable.String(cfg.table),
	}
	var err error
	if t.kmsCalls, err = m.Int64Counter("colcrypt.keystore.kms.calls", metric.WithUnit("{call}"),
		metric.WithDescription("KMS wrap and unwrap calls, each retry attempt counted")); err != nil {
		return nil, fmt.Errorf("%w: %w", errTelemetry, err)
	}
	if t.kmsDuration, err = m.Float64Histogram("colcrypt.keystore.kms.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of each KMS wrap and unwrap call"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, fmt.Errorf("%w: %w", errTelemetry, err)
	}
	hits, err1 := m.Int64ObservableCounter("colcrypt.keystore.cache.hits", metric.WithUnit("{call}"),
		metric.WithDescription("Key lookups answered from the cache"))
	misses, err2 := m.Int64ObservableCounter("colcrypt.keystore.cache.misses", metric.WithUnit("{call}"),
		metric.WithDescription("Key lookups that read the key table"))
	stale, err3 := m.Int64ObservableCounter("colcrypt.keystore.cache.stale_served", metric.WithUnit("{call}"),
		metric.WithDescription("Expired keys served during the stale grace because the KMS failed"))
	evict, err4 := m.Int64ObservableCounter("colcrypt.keystore.cache.evictions", metric.WithUnit("{key}"),
		metric.WithDescription("Cached keys dropped and zeroed before Close"))
	size, err5 := m.Int64ObservableUpDownCounter("colcrypt.keystore.cache.keys", metric.WithUnit("{key}"),
		metric.WithDescription("Keys in the cache now"))
	failovers, err6 := m.Int64ObservableCounter("colcrypt.keystore.kms.failovers", metric.WithUnit("{key}"),
		metric.WithDescription("Data keys unwrapped by another keyring copy than the first one tried"))
	open, err7 := m.Int64ObservableUpDownCounter("colcrypt.keystore.kms.breakers_open", metric.WithUnit("{master_key}"),
		metric.WithDescription("Configured master keys whose circuit breaker is open now"))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return nil, fmt.Errorf("%w: %w", errTelemetry, err)
	}
	// The callback holds the counters, the cache and the breakers, never the Store, so
	// a Store dropped without Close can still be collected.
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h, st := ctr.cached.sum()
		o.ObserveInt64(hits, clampInt64(h))
		o.ObserveInt64(misses, clampInt64(ctr.misses.Load()))
		o.ObserveInt64(stale, clampInt64(ctr.staleServed.Load()+st))
		o.ObserveInt64(evict, clampInt64(ctr.evictions.Load()))
		o.ObserveInt64(size, int64(c.len()))
		o.ObserveInt64(failovers, clampInt64(ctr.failovers.Load()))
		o.ObserveInt64(open, int64(breakersOpen()))
		return nil
	}, hits, misses, stale, evict, size, failovers, open)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTelemetry, err)
	}
	return t, nil
}

func clampInt64(u uint64) int64 { return int64(min(u, 1<<63-1)) }

// close unregisters the cache observers, so a closed Store stops
// reporting.
func (t *telemetry) close() {
	if t != nil && t.reg != nil {
		_ = t.reg.Unregister()
	}
}

// kmsSpan starts the span of one KMS call attempt.
func (t *telemetry) kmsSpan(ctx context.Context, op string, kp *kms.Keeper, tenant string, version uint32, attempt int) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "colcrypt.keystore.kms."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrOperation.String(op), attrDriver.String(driverOf(kp)),
			attrTenant.String(tenant), attrVersion.Int64(int64(version)), attrAttempt.Int(attempt)))
}

// kmsDone ends a KMS call's span and records its count and duration.
func (t *telemetry) kmsDone(ctx context.Context, span trace.Span, op string, kp *kms.Keeper, tenant string, d time.Duration, err error, timedOut bool) {
	outcome := "ok"
	if err != nil {
		outcome = errorKind(err, timedOut)
		span.SetAttributes(attrErrorType.String(outcome))
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
	attrs := []attribute.KeyValue{attrOperation.String(op), attrDriver.String(driverOf(kp)), attrOutcome.String(outcome)}
	if t.tenantMetrics {
		attrs = append(attrs, attrTenant.String(tenant))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	t.kmsCalls.Add(ctx, 1, set)
	t.kmsDuration.Record(ctx, d.Seconds(), set)
}

// querySpan starts the span of one key table query (or transaction),
// named by what it does, not by its SQL text, which the table name and
// dialect already determine.
func (s *Store) querySpan(ctx context.Context, name, tenant string) (context.Context, trace.Span) {
	return s.tel.tracer.Start(ctx, "colcrypt.keystore.query."+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrQuery.String(name), s.tel.dbSystem, s.tel.table, attrTenant.String(tenant)))
}

// execSpan runs one statement of a transaction (or on the pool) under its
// own query span, a child of ctx's.
func (s *Store) execSpan(ctx context.Context, q querier, name, tenant, query string, args ...any) (sql.Result, error) {
	ctx, span := s.querySpan(ctx, name, tenant)
	res, err := q.ExecContext(ctx, query, args...)
	endSpan(span, err)
	return res, err
}

// commitSpan commits tx under its own span: the round trip that makes a
// key operation and its audit event durable.
func (s *Store) commitSpan(ctx context.Context, tx *sql.Tx, tenant string) error {
	_, span := s.querySpan(ctx, "commit", tenant)
	err := tx.Commit()
	endSpan(span, err)
	return err
}

// endSpan ends a span, marking it failed with the error's kind only: an
// error's text may quote a driver's message, and a span is exported
// outside the process, so no error text goes into it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		k := errorKind(err, false)
		span.SetAttributes(attrErrorType.String(k))
		span.SetStatus(codes.Error, k)
	}
	span.End()
}

// errorKind classifies an error for metrics and spans by a fixed, small
// set of words.
func errorKind(err error, timedOut bool) string {
	switch {
	case timedOut || errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case kms.IsRetryable(err):
		return "retryable"
	case errors.Is(err, ErrCorruptRow):
		return "corrupt_row"
	}
	return "error"
}

// driverOf names a keeper's KMS driver by its URI scheme ("awskms",
// "gcpkms", "localkms"...): what the metric needs, and no key name.
func driverOf(kp *kms.Keeper) string {
	scheme, _, ok := strings.Cut(kp.URI(), "://")
	if !ok || scheme == "" {
		return "unknown"
	}
	return scheme
}

// errTelemetry is wrapped when the meter provider refuses an instrument
// or callback.
var errTelemetry = errors.New("keystore: telemetry setup failed")
