package fieldcore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/keystore"
)

// instrumentationName names the meter, as the OpenTelemetry conventions
// ask: the import path of the package the application configures.
const instrumentationName = "github.com/colcrypt/colcrypt/field"

// Metric attribute keys. None holds a value, a key or a row key: the
// table and column names, the operation, the error's kind and, only when
// the application opts in, the tenant.
const (
	attrTable     = attribute.Key("db.collection.name")
	attrColumn    = attribute.Key("colcrypt.column")
	attrTenant    = attribute.Key("colcrypt.tenant")
	attrOperation = attribute.Key("colcrypt.operation")
	attrErrorType = attribute.Key("error.type")
)

// operation is what was counted: a seal or an open.
type operation uint8

const (
	opSeal operation = iota
	opOpen
)

func (op operation) String() string {
	if op == opOpen {
		return "open"
	}
	return "seal"
}

// meters counts seals and opens by table and column (and tenant, if the
// application opts in).
//
// The warm seal and open are a few hundred nanoseconds, so counting must
// cost next to nothing there; BENCHMARKS.md, "Seal and open counts",
// has the figures. A successful seal or open adds one to an atomic
// counter of its series, and an observable callback reads the counters
// when the application's reader collects: no attribute set is built and
// no instrument is called on the hot path. A Handle finds its series once
// and keeps it. Encryptor.Seal and Open, which have no handle, find it
// from the cipher the key source returned, through memo: a small table
// indexed by the cipher's address, so that a warm call does not hash the
// table and column names. Failures are rare and go to a synchronous
// counter with their kind.
//
// An Engine without a meter provider has no meters (nil), and the nil
// check is all that counting costs it.
type meters struct {
	tenantAttr bool
	errs       metric.Int64Counter

	mu    sync.Mutex
	byKey map[seriesKey]*series

	memo [memoSlots]atomic.Pointer[memoEntry]
}

// memoSlots is the size of the cipher-to-series table: ciphers that land
// on the same slot take turns, each turn a lookup under meters.mu.
const memoSlots = 256

type memoEntry struct {
	c *cipher.Cipher
	s *series
}

type seriesKey struct{ tenant, table, column string }

// series is the counts of one table and column (and tenant), spread over
// stripes on cache lines of their own. One counter shared by goroutines
// on two cores costs every increment a cache-line transfer: measured on 2
// cores, a parallel open then ran 1.9x the uncounted one. Each increment
// picks its stripe from the address of the counting goroutine's stack
// (goroutines' stacks are apart, and one goroutine keeps its stripe), so
// parallel callers mostly write lines of their own, at the cost of a
// shift and a mask; the callback sums the stripes.
type series struct {
	_       [64]byte
	stripes [seriesStripes]stripe
	attrs   metric.MeasurementOption // table, column (and tenant)
}

// seriesStripes is a power of two, a few times the cores a server counts
// on at once; more only adds lines the callback reads.
const seriesStripes = 8

// stripe is one cache line of a series' counts.
type stripe struct {
	seals atomic.Int64
	opens atomic.Int64
	_     [48]byte
}

func (s *series) add(op operation) {
	var probe byte
	// Stacks are at least 2 KiB apart; fold a few bits above that so
	// neighbouring stacks land on different stripes.
	a := uintptr(unsafe.Pointer(&probe)) >> 11
	st := &s.stripes[(a^a>>3^a>>6)&(seriesStripes-1)]
	if op == opOpen {
		st.opens.Add(1)
	} else {
		st.seals.Add(1)
	}
}

// totals sums the stripes.
func (s *series) totals() (seals, opens int64) {
	for i := range s.stripes {
		seals += s.stripes[i].seals.Load()
		opens += s.stripes[i].opens.Load()
	}
	return seals, opens
}

// newMeters creates the instruments. OpenTelemetry's API hands back a
// working no-op instrument with an error (a name the SDK refuses, say),
// so an error goes to otel.Handle, the application's error handler, as
// instrumentation libraries do, rather than failing NewEncryptor.
func newMeters(mp metric.MeterProvider, tenantAttr bool) *meters {
	m := &meters{tenantAttr: tenantAttr, byKey: map[seriesKey]*series{}}
	meter := mp.Meter(instrumentationName)
	var err error
	if m.errs, err = meter.Int64Counter("colcrypt.field.errors", metric.WithUnit("{call}"),
		metric.WithDescription("Seals and opens that failed, by operation and error kind")); err != nil {
		otel.Handle(err)
	}
	seals, err1 := meter.Int64ObservableCounter("colcrypt.field.seals", metric.WithUnit("{value}"),
		metric.WithDescription("Values sealed"))
	opens, err2 := meter.Int64ObservableCounter("colcrypt.field.opens", metric.WithUnit("{value}"),
		metric.WithDescription("Values opened"))
	if err := errors.Join(err1, err2); err != nil {
		otel.Handle(err)
	}
	// The callback holds the meters, not the Engine. It stays registered
	// for the provider's life: an Encryptor has no Close, and an
	// application holds one.
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, s := range m.byKey {
			sealed, opened := s.totals()
			o.ObserveInt64(seals, sealed, s.attrs)
			o.ObserveInt64(opens, opened, s.attrs)
		}
		return nil
	}, seals, opens); err != nil {
		otel.Handle(err)
	}
	return m
}

// series returns the series of scope s, its tenant resolved, creating it
// on first use.
func (m *meters) series(s Scope) *series {
	k := seriesKey{table: s.Table, column: s.Column}
	if m.tenantAttr {
		k.tenant = s.Tenant
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ser, ok := m.byKey[k]; ok {
		return ser
	}
	attrs := []attribute.KeyValue{attrTable.String(k.table), attrColumn.String(k.column)}
	if m.tenantAttr {
		attrs = append(attrs, attrTenant.String(k.tenant))
	}
	ser := &series{attrs: metric.WithAttributeSet(attribute.NewSet(attrs...))}
	m.byKey[k] = ser
	return ser
}

// count records one successful Encryptor seal or open of s by tenant
// with cipher c.
func (m *meters) count(c *cipher.Cipher, op operation, tenant string, s Scope) {
	if ser := m.memoized(c); ser != nil {
		ser.add(op)
		return
	}
	s.Tenant = tenant
	e := &memoEntry{c: c, s: m.series(s)}
	m.memo[memoSlot(c)].Store(e)
	e.s.add(op)
}

// memoized returns the series memo holds for c, nil if c's slot holds
// another cipher or none. The cipher is the key source's, one per tenant,
// version, table and column, and lives as long as its key is cached: its
// address picks the slot (Go's collector never moves it).
func (m *meters) memoized(c *cipher.Cipher) *series {
	if e := m.memo[memoSlot(c)].Load(); e != nil && e.c == c {
		return e.s
	}
	return nil
}

func memoSlot(c *cipher.Cipher) uint64 {
	return uint64(uintptr(unsafe.Pointer(c))) * 0x9E3779B97F4A7C15 >> (64 - 8)
}

// failed counts a failed seal or open of s, its tenant resolved if it
// could be, by the error's kind.
func (m *meters) failed(ctx context.Context, op operation, s Scope, err error) {
	attrs := []attribute.KeyValue{attrTable.String(s.Table), attrColumn.String(s.Column),
		attrOperation.String(op.String()), attrErrorType.String(errorKind(err))}
	if m.tenantAttr {
		attrs = append(attrs, attrTenant.String(s.Tenant))
	}
	m.errs.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attrs...)))
}

// errorKind classifies an error by a fixed, small set of words: an
// error's text may quote a driver or name a tenant, and metrics leave the
// process.
func errorKind(err error) string {
	var rke *RowKeyError
	switch {
	case errors.Is(err, codec.ErrAuth):
		return "auth"
	case errors.Is(err, ErrNotEncrypted):
		return "not_encrypted"
	case errors.Is(err, keystore.ErrKeyDestroyed):
		return "key_destroyed"
	case errors.Is(err, ErrNoTenant), errors.Is(err, ErrTenantMismatch):
		return "tenant"
	case errors.As(err, &rke):
		return "row_key"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}
