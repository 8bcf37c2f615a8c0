package migrate

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// instrumentationName names the package's meter: its import path.
const instrumentationName = "github.com/colcrypt/colcrypt/migrate"

// WithMeterProvider sets where a Migrator's metrics go (default: the
// global provider, otel.GetMeterProvider, which records nothing unless
// the application installs an SDK): rows migrated by job and outcome, and
// the estimated rows a job has left. They are recorded once per batch,
// never per row. A dry run records nothing.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(m *Migrator) { m.meters = mp }
}

// telemetry is a Migrator's instruments.
type telemetry struct {
	rows metric.Int64Counter
	lag  metric.Int64Gauge
}

func newTelemetry(mp metric.MeterProvider) (*telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	rows, err1 := m.Int64Counter("colcrypt.migrate.rows", metric.WithUnit("{row}"),
		metric.WithDescription("Rows a migration job scanned, by outcome: updated, skipped, null, failed, conflict"))
	lag, err2 := m.Int64Gauge("colcrypt.migrate.lag", metric.WithUnit("{row}"),
		metric.WithDescription("Estimated rows a migration job has left to scan, as this process sees it"))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("migrate: telemetry setup failed: %w", err)
	}
	return &telemetry{rows: rows, lag: lag}, nil
}

// jobMetrics records one job's batches. The job id is an attribute: a
// deployment runs few jobs, so it stays a small set, and it is the name
// an operator knows the job by. No tenant, key or value is.
type jobMetrics struct {
	t    *telemetry
	job  attribute.KeyValue
	kind attribute.KeyValue
}

func (t *telemetry) job(id string, kind Kind) *jobMetrics {
	return &jobMetrics{t: t, job: attribute.String("colcrypt.migrate.job", id), kind: attribute.String("colcrypt.migrate.kind", string(kind))}
}

// batch records a batch's counts and the job's estimated lag.
func (j *jobMetrics) batch(t tally, done, total int64) {
	if j == nil {
		return
	}
	ctx := context.Background()
	for _, o := range []struct {
		outcome string
		n       int64
	}{{"updated", t.Updated}, {"skipped", t.Skipped}, {"null", t.Null}, {"failed", t.Failed}, {"conflict", t.Conflicts}} {
		if o.n > 0 {
			j.t.rows.Add(ctx, o.n, metric.WithAttributes(j.job, j.kind, attribute.String("colcrypt.migrate.outcome", o.outcome)))
		}
	}
	j.t.lag.Record(ctx, max(total-done, 0), metric.WithAttributes(j.job, j.kind))
}
