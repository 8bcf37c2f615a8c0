package field_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/field/fieldtest"
	"github.com/colcrypt/colcrypt/internal/cipher"
)

// meteredEncryptor is an Encryptor over raw keys of tenants acme and
// globex, counting into an SDK meter provider read by hand.
func meteredEncryptor(t *testing.T, opts ...field.Option) (*field.Encryptor, *sdkmetric.ManualReader) {
	t.Helper()
	var keys []fieldtest.Key
	for _, tenant := range []string{"acme", "globex"} {
		dek := make([]byte, cipher.DEKSize)
		rand.Read(dek)
		keys = append(keys, fieldtest.Key{Tenant: tenant, Version: 1, DEK: dek})
	}
	fake, err := fieldtest.NewKeys(keys...)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	return field.NewEncryptor(fake, append([]field.Option{field.WithMeterProvider(mp)}, opts...)...), reader
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect() = %v", err)
	}
	return rm
}

// points returns the int64 sum points of metric name.
func points(rm metricdata.ResourceMetrics, name string) []metricdata.DataPoint[int64] {
	var out []metricdata.DataPoint[int64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				out = append(out, d.DataPoints...)
			}
		}
	}
	return out
}

// count is the value of the point of metric name whose attributes are
// exactly want (0 if there is none).
func count(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	set := attribute.NewSet(want...)
	for _, p := range points(rm, name) {
		if p.Attributes.Equals(&set) {
			return p.Value
		}
	}
	return 0
}

// meteredWorkload seals and opens a known number of values of three
// columns through the Encryptor and a column handle, and fails a known
// number of times, for the two tenants.
func meteredWorkload(t *testing.T, enc *field.Encryptor) {
	t.Helper()
	ctx := context.Background()
	acme := field.WithTenant(ctx, "acme")
	email := field.Scope{Table: "patients", Column: "email"}
	ssn := field.Scope{Table: "patients", Column: "ssn"}
	name := field.Scope{Table: "users", Column: "name"}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var stored [][]byte
	for range 3 {
		stored = append(stored, must(enc.Seal(acme, email, []byte("ann@example.com"))))
	}
	for range 2 {
		must(enc.Seal(field.WithTenant(ctx, "globex"), email, []byte("bob@example.com")))
	}
	det := must(enc.SealDeterministic(acme, ssn, []byte("123-45-6789")))
	bound := must(enc.SealRow(acme, name, field.Randomized, "row-1", []byte("Ann")))
	for i := range 4 {
		must(enc.Open(acme, email, stored[i%3]))
	}
	must(enc.AppendOpen(acme, nil, ssn, det))
	must(enc.OpenRow(acme, name, "row-1", bound))

	h, err := core(enc).Handle(acme, email)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		v := must(h.Seal(acme, field.Randomized, nil, []byte("cat@example.com")))
		must(h.Open(acme, nil, v))
	}
	fork := h.Fork()
	for range 2 {
		must(fork.Seal(acme, field.Randomized, nil, []byte("dan@example.com")))
	}

	tampered := bytes.Clone(stored[0])
	tampered[len(tampered)-1] ^= 1
	if _, err := enc.Open(acme, email, tampered); err == nil {
		t.Fatal("Open(tampered) succeeded")
	}
	if _, err := h.Open(acme, nil, tampered); err == nil {
		t.Fatal("Handle.Open(tampered) succeeded")
	}
	if _, err := enc.Open(acme, email, []byte("plaintext")); err == nil {
		t.Fatal("Open(plaintext) succeeded")
	}
	if _, err := enc.Seal(ctx, email, []byte("x")); err == nil {
		t.Fatal("Seal without a tenant succeeded")
	}
	if _, err := enc.SealRow(acme, name, field.Randomized, "", []byte("x")); err == nil {
		t.Fatal("SealRow without a row key succeeded")
	}
}

var (
	attrPatients = attribute.String("db.collection.name", "patients")
	attrUsers    = attribute.String("db.collection.name", "users")
	attrEmail    = attribute.String("colcrypt.column", "email")
	attrSSN      = attribute.String("colcrypt.column", "ssn")
	attrName     = attribute.String("colcrypt.column", "name")
	attrSeal     = attribute.String("colcrypt.operation", "seal")
	attrOpen     = attribute.String("colcrypt.operation", "open")
)

func errType(kind string) attribute.KeyValue { return attribute.String("error.type", kind) }

// TestMetricsByColumn: the exact seal, open and error counts of a known
// workload, by table and column, through the Encryptor and a handle; no
// tenant in any attribute without WithTenantMetrics.
func TestMetricsByColumn(t *testing.T) {
	enc, reader := meteredEncryptor(t)
	meteredWorkload(t, enc)
	rm := collect(t, reader)
	for _, tc := range []struct {
		metric string
		attrs  []attribute.KeyValue
		want   int64
	}{
		{"colcrypt.field.seals", []attribute.KeyValue{attrPatients, attrEmail}, 3 + 2 + 5 + 2},
		{"colcrypt.field.opens", []attribute.KeyValue{attrPatients, attrEmail}, 4 + 5},
		{"colcrypt.field.seals", []attribute.KeyValue{attrPatients, attrSSN}, 1},
		{"colcrypt.field.opens", []attribute.KeyValue{attrPatients, attrSSN}, 1},
		{"colcrypt.field.seals", []attribute.KeyValue{attrUsers, attrName}, 1},
		{"colcrypt.field.opens", []attribute.KeyValue{attrUsers, attrName}, 1},
		{"colcrypt.field.errors", []attribute.KeyValue{attrPatients, attrEmail, attrOpen, errType("auth")}, 2},
		{"colcrypt.field.errors", []attribute.KeyValue{attrPatients, attrEmail, attrOpen, errType("not_encrypted")}, 1},
		{"colcrypt.field.errors", []attribute.KeyValue{attrPatients, attrEmail, attrSeal, errType("tenant")}, 1},
		{"colcrypt.field.errors", []attribute.KeyValue{attrUsers, attrName, attrSeal, errType("row_key")}, 1},
	} {
		if got := count(rm, tc.metric, tc.attrs...); got != tc.want {
			t.Errorf("%s%v = %d, want %d", tc.metric, tc.attrs, got, tc.want)
		}
	}
	for _, name := range []string{"colcrypt.field.seals", "colcrypt.field.opens", "colcrypt.field.errors"} {
		ps := points(rm, name)
		if len(ps) == 0 {
			t.Errorf("%s: no points", name)
		}
		for _, p := range ps {
			if _, ok := p.Attributes.Value("colcrypt.tenant"); ok {
				t.Errorf("%s point %v has a tenant attribute without WithTenantMetrics", name, p.Attributes.ToSlice())
			}
		}
	}
	if n := len(points(rm, "colcrypt.field.errors")); n != 4 {
		t.Errorf("colcrypt.field.errors has %d points, want 4", n)
	}
}

// TestMetricsTenantOptIn: with WithTenantMetrics the counts split by
// tenant.
func TestMetricsTenantOptIn(t *testing.T) {
	enc, reader := meteredEncryptor(t, field.WithTenantMetrics())
	meteredWorkload(t, enc)
	rm := collect(t, reader)
	acme, globex := attribute.String("colcrypt.tenant", "acme"), attribute.String("colcrypt.tenant", "globex")
	if got := count(rm, "colcrypt.field.seals", attrPatients, attrEmail, acme); got != 3+5+2 {
		t.Errorf("acme's email seals = %d, want 10", got)
	}
	if got := count(rm, "colcrypt.field.seals", attrPatients, attrEmail, globex); got != 2 {
		t.Errorf("globex's email seals = %d, want 2", got)
	}
	if got := count(rm, "colcrypt.field.errors", attrPatients, attrEmail, attrOpen, errType("auth"), acme); got != 2 {
		t.Errorf("acme's email auth errors = %d, want 2", got)
	}
	// The seal without a tenant has none to name.
	if got := count(rm, "colcrypt.field.errors", attrPatients, attrEmail, attrSeal, errType("tenant"), attribute.String("colcrypt.tenant", "")); got != 1 {
		t.Errorf("tenantless seal errors = %d, want 1", got)
	}
}

// TestMetricsOffWithoutProvider: an Encryptor without WithMeterProvider
// counts nothing, not even through the global provider.
func TestMetricsOffWithoutProvider(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { otel.SetMeterProvider(prev) })

	dek := make([]byte, cipher.DEKSize)
	rand.Read(dek)
	fake, err := fieldtest.NewKeys(fieldtest.Key{Tenant: "acme", Version: 1, DEK: dek}, fieldtest.Key{Tenant: "globex", Version: 1, DEK: dek})
	if err != nil {
		t.Fatal(err)
	}
	meteredWorkload(t, field.NewEncryptor(fake))
	rm := collect(t, reader)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			t.Errorf("metric %s recorded without WithMeterProvider", m.Name)
		}
	}
}
