package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// otelSink is an SDK meter and tracer provider recording in memory.
type otelSink struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newOtelSink(t testing.TB) *otelSink {
	t.Helper()
	o := &otelSink{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader))
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(o.spans))
	t.Cleanup(func() { o.mp.Shutdown(ctxb); o.tp.Shutdown(ctxb) })
	return o
}

func (o *otelSink) opts() []Option {
	return []Option{WithTelemetry(Telemetry{Meters: o.mp}), WithTelemetry(Telemetry{Tracers: o.tp})}
}

func (o *otelSink) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(ctxb, &rm); err != nil {
		t.Fatalf("Collect() = %v", err)
	}
	return rm
}

// sum returns the int64 sum of the metric's points whose attributes
// include every one of want.
func sum(t testing.TB, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if hasAll(p.Attributes, want) {
						n += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if hasAll(p.Attributes, want) {
						n += int64(p.Count)
					}
				}
			default:
				t.Fatalf("metric %s has data %T", name, m.Data)
			}
		}
	}
	return n
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// TestMetricsKnownWorkload: for a known workload the KMS call counter,
// its histogram and the cache counters show exactly the calls made, on
// every database.
func TestMetricsKnownWorkload(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		o := newOtelSink(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), o.opts()...)
		for _, tenant := range []string{"a", "b"} {
			for range 5 { // 1 miss (a wrap), 4 hits
				if _, err := s.active(ctxb, tenant); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A second process: its cold cache unwraps each key once.
		o2 := newOtelSink(t)
		s2 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), o2.opts()...)
		for range 3 {
			if _, err := s2.lookupKey(ctxb, "a", 1); err != nil {
				t.Fatal(err)
			}
		}
		// A failing unwrap: counted with outcome "error".
		drv.failNext(errTestDenied)
		s3 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), o2.opts()...)
		if _, err := s3.lookupKey(ctxb, "b", 1); err == nil {
			t.Fatal("Key with the KMS denying = nil error")
		}

		wrap, unwrap := attrOperation.String("wrap"), attrOperation.String("unwrap")
		ok, failed := attrOutcome.String("ok"), attrOutcome.String("error")
		driver := attrDriver.String("test")
		rm := o.collect(t)
		for _, c := range []struct {
			name  string
			attrs []attribute.KeyValue
			want  int64
		}{
			// Two data keys and the table's audit chain key (once per table).
			{"colcrypt.keystore.kms.calls", []attribute.KeyValue{wrap, ok, driver}, 3},
			{"colcrypt.keystore.kms.calls", []attribute.KeyValue{unwrap}, 0},
			{"colcrypt.keystore.kms.duration", []attribute.KeyValue{wrap, ok, driver}, 3},
			{"colcrypt.keystore.cache.hits", nil, 8},
			{"colcrypt.keystore.cache.misses", nil, 2},
			{"colcrypt.keystore.cache.stale_served", nil, 0},
			{"colcrypt.keystore.cache.keys", nil, 2},
		} {
			if got := sum(t, rm, c.name, c.attrs...); got != c.want {
				t.Errorf("store 1: %s%v = %d, want %d", c.name, c.attrs, got, c.want)
			}
		}
		rm2 := o2.collect(t)
		for _, c := range []struct {
			name  string
			attrs []attribute.KeyValue
			want  int64
		}{
			{"colcrypt.keystore.kms.calls", []attribute.KeyValue{unwrap, ok, driver}, 1},
			{"colcrypt.keystore.kms.calls", []attribute.KeyValue{unwrap, failed, driver}, 1},
			{"colcrypt.keystore.kms.calls", []attribute.KeyValue{wrap}, 0},
			{"colcrypt.keystore.kms.duration", []attribute.KeyValue{unwrap}, 2},
			{"colcrypt.keystore.cache.hits", nil, 2},
			{"colcrypt.keystore.cache.misses", nil, 2}, // s2's and s3's
		} {
			if got := sum(t, rm2, c.name, c.attrs...); got != c.want {
				t.Errorf("stores 2, 3: %s%v = %d, want %d", c.name, c.attrs, got, c.want)
			}
		}
		if st := s.Stats(); st.Hits != 8 || st.Misses != 2 || st.KMSWraps != 3 {
			t.Errorf("Stats() = %+v, disagrees with the metrics", st)
		}
		// No tenant id as a metric attribute unless asked for.
		for _, rm := range []metricdata.ResourceMetrics{rm, rm2} {
			for _, kv := range metricAttrs(rm) {
				if kv.Key == attrTenant {
					t.Errorf("metric attribute %v without Telemetry.TenantMetrics", kv)
				}
			}
		}
		// After Close the cache observers stop reporting.
		s.Close()
		if got := sum(t, o.collect(t), "colcrypt.keystore.cache.hits"); got != 0 {
			t.Errorf("cache.hits after Close = %d, want no point", got)
		}
	})
}

// TestMetricsTenantOptIn: Telemetry.TenantMetrics adds the tenant to the KMS
// call metrics.
func TestMetricsTenantOptIn(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	o := newOtelSink(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), append(o.opts(), WithTelemetry(Telemetry{TenantMetrics: true}))...)
	if _, err := s.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	if got := sum(t, o.collect(t), "colcrypt.keystore.kms.calls", attrTenant.String("acme")); got != 1 {
		t.Errorf("kms.calls{tenant=acme} = %d, want 1", got)
	}
}

// TestSpansColdSeal: a cold seal records a KMS span and key table query
// spans, all children of the caller's span; a warm seal records none.
func TestSpansColdSeal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		o := newOtelSink(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), o.opts()...)
		// The first key a Store creates also creates the table's audit
		// chain key (one more wrap, once per table): create it first, with
		// no caller span, so the cold seal below is a tenant's alone.
		if _, err := s.active(ctxb, "warm-up"); err != nil {
			t.Fatal(err)
		}
		o.spans.Reset()
		seal := func() {
			ctx, parent := o.tp.Tracer("app").Start(ctxb, "handle request")
			defer parent.End()
			k, err := s.active(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			c, err := k.Cipher("patients", "name")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Seal(nil, []byte("Ada Lovelace")); err != nil {
				t.Fatal(err)
			}
		}
		seal()
		var parent trace.SpanContext
		kmsSpans, querySpans := 0, 0
		ended := o.spans.Ended()
		byID := map[trace.SpanID]string{}
		for _, sp := range ended {
			if sp.Name() == "handle request" {
				parent = sp.SpanContext()
			}
			byID[sp.SpanContext().SpanID()] = sp.Name()
		}
		for _, sp := range ended {
			// The audit trail's queries run inside the first key's insert
			// transaction: children of its span, the rest of the caller's.
			wantParent := parent.SpanID()
			if strings.HasPrefix(sp.Name(), "colcrypt.keystore.query.audit_") {
				if byID[sp.Parent().SpanID()] != "colcrypt.keystore.query.insert_active" {
					t.Errorf("span %q is not a child of the insert's span", sp.Name())
				}
				wantParent = sp.Parent().SpanID()
			}
			switch {
			case sp.Name() == "handle request":
				continue
			case sp.Name() == "colcrypt.keystore.kms.wrap":
				kmsSpans++
			case strings.HasPrefix(sp.Name(), "colcrypt.keystore.query."):
				querySpans++
			default:
				t.Errorf("unexpected span %q", sp.Name())
			}
			if sp.Parent().SpanID() != wantParent || sp.SpanContext().TraceID() != parent.TraceID() {
				t.Errorf("span %q is not a child of the caller's span", sp.Name())
			}
			if sp.SpanKind() != trace.SpanKindClient {
				t.Errorf("span %q kind = %v, want client", sp.Name(), sp.SpanKind())
			}
		}
		if kmsSpans != 1 || querySpans < 2 {
			t.Errorf("cold seal: %d KMS spans, %d query spans; want 1 and at least 2 (read, insert)", kmsSpans, querySpans)
		}
		before := len(ended)
		seal()
		if got := len(o.spans.Ended()) - before; got != 1 {
			t.Errorf("warm seal recorded %d spans beside the caller's, want none", got-1)
		}
	})
}

// TestSpanErrorKind: a failed KMS call's span says the error's kind, not
// its text.
func TestSpanErrorKind(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	o := newOtelSink(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), o.opts()...)
	drv.failNext(errTestDenied)
	if _, err := s.active(ctxb, "acme"); err == nil {
		t.Fatal("Active with the KMS denying = nil error")
	}
	found := false
	for _, sp := range o.spans.Ended() {
		if sp.Name() != "colcrypt.keystore.kms.wrap" {
			continue
		}
		found = true
		if sp.Status().Description != "error" {
			t.Errorf("status = %+v, want the kind \"error\"", sp.Status())
		}
		if strings.Contains(fmt.Sprint(sp.Attributes(), sp.Events(), sp.Status()), errTestDenied.Error()) {
			t.Errorf("span holds the error text: %v %v", sp.Attributes(), sp.Events())
		}
	}
	if !found {
		t.Fatal("no KMS span for the failed wrap")
	}
}

func metricAttrs(rm metricdata.ResourceMetrics) []attribute.KeyValue {
	var out []attribute.KeyValue
	add := func(s attribute.Set) { out = append(out, s.ToSlice()...) }
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes)
				}
			}
		}
	}
	return out
}

// TestTelemetryRedaction: no span attribute, span event, metric attribute
// or log record of a workload holds a data key's bytes, a wrapped key or
// a plaintext, with tenant metrics on and debug logging.
func TestTelemetryRedaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		o := newOtelSink(t)
		var logs bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK), append(o.opts(), WithTelemetry(Telemetry{TenantMetrics: true}), WithTelemetry(Telemetry{Logger: log}))...)
		const plaintext = "Ada Lovelace 1815-12-10"
		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Cipher("patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Seal(nil, []byte(plaintext)); err != nil {
			t.Fatal(err)
		}
		s2 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), append(o.opts(), WithTelemetry(Telemetry{TenantMetrics: true}), WithTelemetry(Telemetry{Logger: log}))...)
		if _, err := s2.lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatal(err)
		}
		drv.failNext(errTestDenied)
		s3 := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK), append(o.opts(), WithTelemetry(Telemetry{TenantMetrics: true}), WithTelemetry(Telemetry{Logger: log}))...)
		_, _ = s3.lookupKey(ctxb, "acme", 1)

		var wrapped []byte
		if err := tdb.db.QueryRowContext(ctxb, tdb.q("SELECT wrapped_dek FROM {keys} WHERE tenant_id = ?"), "acme").Scan(&wrapped); err != nil {
			t.Fatal(err)
		}
		var forbidden []string
		for _, b := range [][]byte{heldDEK(k), wrapped} {
			forbidden = append(forbidden, hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
				string(b), base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
				fmt.Sprint(b)[1:len(fmt.Sprint(b))-1])
		}
		forbidden = append(forbidden, plaintext)

		var out strings.Builder
		for _, sp := range o.spans.Ended() {
			fmt.Fprintf(&out, "%s %v %v %v\n", sp.Name(), sp.Attributes(), sp.Events(), sp.Status())
		}
		for _, kv := range metricAttrs(o.collect(t)) {
			fmt.Fprintf(&out, "%s=%s\n", kv.Key, kv.Value.String())
		}
		out.WriteString(logs.String())
		if !strings.Contains(out.String(), "colcrypt.keystore.kms.unwrap") || !strings.Contains(out.String(), "keystore: kms") {
			t.Fatalf("the workload recorded no KMS span or log record:\n%s", out.String())
		}
		for _, f := range forbidden {
			if strings.Contains(out.String(), f) {
				t.Fatalf("telemetry holds a key, wrapped key or plaintext (%q):\n%s", f, out.String())
			}
		}
	})
}

// TestSpansKeyOperations: rotate, destroy-version, rewrap and shred each
// record one span for their transaction and one for every key table
// query inside it (the audit trail's included) and its commit, all in
// the caller's trace, the transaction's span a child of the caller's.
func TestSpansKeyOperations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		kmsA, kmsB := newInsecureTestKMS(t), newInsecureTestKMS(t)
		o := newOtelSink(t)
		s := newTestStore(t, tdb, tdb.db, kmsA.keeper(testKEK), o.opts()...)
		if _, err := s.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		audit := []string{"audit_lock", "audit_head", "audit_insert", "commit"}
		for _, tc := range []struct {
			tx      string
			queries []string
			run     func(ctx context.Context) error
		}{
			{"rotate", append([]string{"lock_tenant", "summary", "retire_active", "insert_rotated"}, audit...),
				func(ctx context.Context) error { _, err := s.Rotate(ctx, "acme"); return err }},
			{"destroy_version", append([]string{"lock_tenant", "tenant_rows", "select_key", "destroy_one", "destroy_copies"}, audit...),
				func(ctx context.Context) error { return s.DestroyVersion(ctx, "acme", 1) }},
			{"rewrap", append([]string{"rewrap_swap", "rewrap_drop_copy"}, audit...),
				func(ctx context.Context) error {
					_, err := s.Rewrap(ctx, kmsB.keeper(testKEK2), RewrapOptions{})
					return err
				}},
			{"shred", append([]string{"destroy_all", "destroy_copies"}, audit...),
				func(ctx context.Context) error { return s.Shred(ctx, "acme") }},
		} {
			o.spans.Reset()
			ctx, caller := o.tp.Tracer("app").Start(ctxb, "admin request")
			if err := tc.run(ctx); err != nil {
				t.Fatalf("%s: %v", tc.tx, err)
			}
			caller.End()
			var txSpan trace.SpanContext
			for _, sp := range o.spans.Ended() {
				if sp.SpanContext().TraceID() != caller.SpanContext().TraceID() {
					t.Errorf("%s: span %q is outside the caller's trace", tc.tx, sp.Name())
				}
				// The first: Shred and Rewrap go on to the index key
				// family, whose transactions have spans of the same name.
				if sp.Name() == "colcrypt.keystore.query."+tc.tx && !txSpan.IsValid() {
					txSpan = sp.SpanContext()
					if sp.Parent().SpanID() != caller.SpanContext().SpanID() {
						t.Errorf("%s: the transaction's span is not a child of the caller's", tc.tx)
					}
				}
			}
			if !txSpan.IsValid() {
				t.Fatalf("%s: no span for the transaction", tc.tx)
			}
			var got []string
			for _, sp := range o.spans.Ended() {
				if sp.Parent().SpanID() == txSpan.SpanID() {
					got = append(got, strings.TrimPrefix(sp.Name(), "colcrypt.keystore.query."))
				}
			}
			if !slices.Equal(got, tc.queries) {
				t.Errorf("%s: query spans in the transaction = %v, want %v", tc.tx, got, tc.queries)
			}
		}
	})
}
