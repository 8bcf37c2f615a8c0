package migrate

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestMetricsRowsAndLag: a run's row counter matches its Result by
// outcome, and the lag gauge ends at the estimate's remainder, on every
// database; a dry run records nothing.
func TestMetricsRowsAndLag(t *testing.T) {
	const n = 500
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			t.Cleanup(func() { mp.Shutdown(context.Background()) })
			m, err := New(e.db, e.enc, WithDialect(dc.d.Name()), WithMeterProvider(mp))
			if err != nil {
				t.Fatal(err)
			}
			job := Job{ID: "enc-email", Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			if _, err := m.Run(context.Background(), job, RunOptions{BatchSize: 64, DryRun: true}); err != nil {
				t.Fatalf("dry run = %v", err)
			}
			if got := collect(t, reader); len(got.ScopeMetrics) != 0 && len(got.ScopeMetrics[0].Metrics) != 0 {
				t.Fatalf("a dry run recorded metrics: %+v", got.ScopeMetrics)
			}
			res := mustRun(t, m, job, RunOptions{BatchSize: 64, Workers: 2})
			rm := collect(t, reader)
			rows := map[string]int64{}
			var lag int64 = -1
			for _, sm := range rm.ScopeMetrics {
				for _, mt := range sm.Metrics {
					switch d := mt.Data.(type) {
					case metricdata.Sum[int64]:
						for _, p := range d.DataPoints {
							o, _ := p.Attributes.Value("colcrypt.migrate.outcome")
							if j, _ := p.Attributes.Value("colcrypt.migrate.job"); j != attribute.StringValue("enc-email") {
								t.Errorf("%s point without the job: %v", mt.Name, p.Attributes)
							}
							rows[o.AsString()] += p.Value
						}
					case metricdata.Gauge[int64]:
						for _, p := range d.DataPoints {
							lag = p.Value
						}
					}
				}
			}
			if rows["updated"] != res.Updated || rows["null"] != res.Null || rows["skipped"] != res.Skipped || rows["failed"] != 0 {
				t.Errorf("colcrypt.migrate.rows = %v, want the Result's %+v", rows, res)
			}
			if rows["updated"]+rows["null"]+rows["skipped"] != n {
				t.Errorf("colcrypt.migrate.rows sum to %v, want %d", rows, n)
			}
			if want := max(res.Total-res.Scanned, 0); lag != want {
				t.Errorf("colcrypt.migrate.lag = %d, want %d (estimate %d, scanned %d)", lag, want, res.Total, res.Scanned)
			}
		})
	}
}

func collect(t testing.TB, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}
