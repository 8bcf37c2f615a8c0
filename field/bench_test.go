package field_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/colcrypt/colcrypt/field"
)

// The benchmarks compare the Encryptor's warm path with raw AES-256-GCM
// from the standard library in the same run: the raw AEAD with a fresh
// random nonce per value is the floor any correct column encryption pays.
// Run them together and compare ratios, not absolute times:
//
//	go test -run='^$' -bench='Seal|Open' -benchmem -count=6 ./field/

var benchSizes = []int{64, 1024}

func rawGCM(b *testing.B) cipher.AEAD {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		b.Fatal(err)
	}
	return aead
}

// benchEnv is an Encryptor with the benchmark tenant's key warm in cache.
func benchEnv(b *testing.B, opts ...field.Option) (*field.Encryptor, field.Scope) {
	e := newBenchEnv(b, opts...)
	s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
	if _, err := e.Seal(context.Background(), s, []byte("warm")); err != nil {
		b.Fatal(err)
	}
	return e, s
}

func BenchmarkRawGCMSeal(b *testing.B) {
	aead := rawGCM(b)
	aad := benchAAD
	for _, n := range benchSizes {
		pt := make([]byte, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				aead.Seal(nil, nil, pt, aad)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	enc, s := benchEnv(b)
	ctx := context.Background()
	for _, n := range benchSizes {
		pt := make([]byte, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := enc.Seal(ctx, s, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRawGCMOpen(b *testing.B) {
	aead := rawGCM(b)
	aad := benchAAD
	for _, n := range benchSizes {
		ct := aead.Seal(nil, nil, make([]byte, n), aad)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := aead.Open(nil, nil, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	enc, s := benchEnv(b)
	ctx := context.Background()
	for _, n := range benchSizes {
		v, err := enc.Seal(ctx, s, make([]byte, n))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := enc.Open(ctx, s, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealParallel shows the warm path under contention: once a
// tenant is warm, sealing takes no lock and writes nothing another core
// writes.
func BenchmarkSealParallel(b *testing.B) {
	enc, s := benchEnv(b)
	ctx := context.Background()
	pt := make([]byte, 64)
	b.ReportAllocs()
	b.SetBytes(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := enc.Seal(ctx, s, pt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSealVsRaw interleaves Encryptor.Seal and raw AES-GCM seals of a
// 64-byte value in alternating batches within one benchmark, so machine
// noise hits both alike, and reports the ratio of their fastest batches
// (seal/raw): the figure the project tracks in BENCHMARKS.md.
func BenchmarkSealVsRaw(b *testing.B) {
	raw, ours := sealPair(b)
	interleave(b, "seal", raw, ours)
}

// BenchmarkOpenVsRaw is BenchmarkSealVsRaw for opening.
func BenchmarkOpenVsRaw(b *testing.B) {
	raw, ours := openPair(b)
	interleave(b, "open", raw, ours)
}

// BenchmarkSealParallelVsRaw is BenchmarkSealVsRaw with four goroutines
// per CPU sealing at once, all for one tenant and column: the case where
// anything the goroutines write in common (a lock's reader count, a
// shared counter) bounces between the cores' caches and shows in the
// ratio.
func BenchmarkSealParallelVsRaw(b *testing.B) {
	raw, ours := sealPair(b)
	interleaveParallel(b, "seal", raw, ours)
}

// BenchmarkOpenParallelVsRaw is BenchmarkSealParallelVsRaw for opening.
func BenchmarkOpenParallelVsRaw(b *testing.B) {
	raw, ours := openPair(b)
	interleaveParallel(b, "open", raw, ours)
}

// BenchmarkSealVsRawMetered interleaves, in one run, raw AES-GCM, an
// Encryptor without a meter provider and one counting into an installed
// OpenTelemetry SDK (WithMeterProvider), and reports each one's ratio to
// raw and the metered one's to the unmetered one: what counting seals by
// table and column costs the warm path.
func BenchmarkSealVsRawMetered(b *testing.B) {
	raw, plain := sealPair(b)
	_, metered := sealPair(b, field.WithMeterProvider(benchMeterProvider(b)))
	interleaveN(b, []string{"raw", "seal", "metered"}, []func() error{raw, plain, metered})
}

// BenchmarkOpenVsRawMetered is BenchmarkSealVsRawMetered for opening.
func BenchmarkOpenVsRawMetered(b *testing.B) {
	raw, plain := openPair(b)
	_, metered := openPair(b, field.WithMeterProvider(benchMeterProvider(b)))
	interleaveN(b, []string{"raw", "open", "metered"}, []func() error{raw, plain, metered})
}

// BenchmarkSealParallelVsRawMetered is BenchmarkSealVsRawMetered with
// the goroutines of BenchmarkSealParallelVsRaw: every one of them counts
// into the same column's counters.
func BenchmarkSealParallelVsRawMetered(b *testing.B) {
	raw, plain := sealPair(b)
	_, metered := sealPair(b, field.WithMeterProvider(benchMeterProvider(b)))
	interleaveParallelN(b, []string{"raw", "seal", "metered"}, []func() error{raw, plain, metered})
}

// BenchmarkOpenParallelVsRawMetered is BenchmarkSealParallelVsRawMetered
// for opening.
func BenchmarkOpenParallelVsRawMetered(b *testing.B) {
	raw, plain := openPair(b)
	_, metered := openPair(b, field.WithMeterProvider(benchMeterProvider(b)))
	interleaveParallelN(b, []string{"raw", "open", "metered"}, []func() error{raw, plain, metered})
}

// benchMeterProvider is an OpenTelemetry SDK meter provider with a reader
// that collects only when asked, as a periodic exporter would between
// exports.
func benchMeterProvider(b *testing.B) *sdkmetric.MeterProvider {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { mp.Shutdown(context.Background()) })
	return mp
}

// benchAAD is the AAD colcrypt binds for the bench scope, so that the raw
// AEAD authenticates as many bytes.
var benchAAD = []byte("\xc0\x01\x01\x04acme\x08patients\x05email")

// sealPair returns a raw AES-GCM seal and an Encryptor seal of a 64-byte
// value, for the VsRaw benchmarks.
func sealPair(b *testing.B, opts ...field.Option) (raw, ours func() error) {
	enc, s := benchEnv(b, opts...)
	aead := rawGCM(b)
	ctx := context.Background()
	pt := make([]byte, 64)
	return func() error {
			aead.Seal(nil, nil, pt, benchAAD)
			return nil
		}, func() error {
			_, err := enc.Seal(ctx, s, pt)
			return err
		}
}

// openPair is sealPair for opening.
func openPair(b *testing.B, opts ...field.Option) (raw, ours func() error) {
	enc, s := benchEnv(b, opts...)
	aead := rawGCM(b)
	ctx := context.Background()
	rawValue := aead.Seal(nil, nil, make([]byte, 64), benchAAD)
	v, err := enc.Seal(ctx, s, make([]byte, 64))
	if err != nil {
		b.Fatal(err)
	}
	return func() error {
			_, err := aead.Open(nil, nil, rawValue, benchAAD)
			return err
		}, func() error {
			_, err := enc.Open(ctx, s, v)
			return err
		}
}

// interleave runs batches of raw and ours in turn each iteration and
// reports the fastest batch of each per value, and their ratio as
// "<name>/raw".
func interleave(b *testing.B, name string, raw, ours func() error) {
	interleaveN(b, []string{"raw", name}, []func() error{raw, ours})
}

// interleaveN runs a batch of each of fs in turn each iteration and
// reports the fastest batch of each per value ("<name>-ns/value"), the
// ratio of each to the first ("<name>/<first>") and, for three or more,
// of the last to the second ("<last>/<second>").
func interleaveN(b *testing.B, names []string, fs []func() error) {
	const batch = 2000
	best := make([]time.Duration, len(fs))
	for i := range best {
		best[i] = 1 << 62
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, f := range fs {
			start := time.Now()
			for range batch {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			best[i] = min(best[i], time.Since(start))
		}
	}
	reportBest(b, names, best, batch)
}

// interleaveParallel is interleave with each batch run by four goroutines
// per CPU at once: it reports the wall time per value of the fastest
// batch of each, and their ratio.
func interleaveParallel(b *testing.B, name string, raw, ours func() error) {
	interleaveParallelN(b, []string{"raw", name}, []func() error{raw, ours})
}

// interleaveParallelN is interleaveN with each batch run by four
// goroutines per CPU at once.
func interleaveParallelN(b *testing.B, names []string, fs []func() error) {
	const perGoroutine = 500
	workers := 4 * runtime.GOMAXPROCS(0)
	best := make([]time.Duration, len(fs))
	for i := range best {
		best[i] = 1 << 62
	}
	var failed atomic.Pointer[error]
	b.ReportAllocs()
	for b.Loop() {
		for i, f := range fs {
			var wg sync.WaitGroup
			start := time.Now()
			for range workers {
				wg.Go(func() {
					for range perGoroutine {
						if err := f(); err != nil {
							failed.CompareAndSwap(nil, &err)
							return
						}
					}
				})
			}
			wg.Wait()
			best[i] = min(best[i], time.Since(start))
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
		}
	}
	reportBest(b, names, best, workers*perGoroutine)
}

// reportBest reports the fastest batches of interleaveN: per value, each
// to the first, and the last to the second.
func reportBest(b *testing.B, names []string, best []time.Duration, values int) {
	for i, d := range best {
		b.ReportMetric(float64(d.Nanoseconds())/float64(values), names[i]+"-ns/value")
		if i > 0 {
			b.ReportMetric(float64(d)/float64(best[0]), names[i]+"/"+names[0])
		}
	}
	if n := len(best); n > 2 {
		b.ReportMetric(float64(best[n-1])/float64(best[1]), names[n-1]+"/"+names[1])
	}
}
