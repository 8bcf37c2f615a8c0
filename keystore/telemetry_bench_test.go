package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"slices"
	"testing"
	"time"
)

// BenchmarkTelemetryOverhead measures what an installed OpenTelemetry SDK
// costs a warm seal and open: in each round it times a batch of raw
// AES-256-GCM seals (random nonce) and opens, then the same through a
// Store without telemetry options (global no-op providers) and through
// one with an SDK meter and tracer provider, in an order rotated each
// round. It reports the median over rounds of each store's ratio to raw
// and of with/without, which should stay within 1.05.
func BenchmarkTelemetryOverhead(b *testing.B) {
	const batch, rounds = 2000, 9
	plain, _ := warmStore(b)
	o := newOtelSink(b)
	tdb := sqliteOnly(b)
	inst := newTestStore(b, tdb, tdb.db, newInsecureTestKMS(b).keeper(testKEK), o.opts()...)
	if _, err := inst.active(ctxb, "acme"); err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(blk)
	pt := make([]byte, 64)
	buf := make([]byte, 0, 256)
	nonce := make([]byte, gcm.NonceSize())

	raw := func(open bool) time.Duration {
		sealed := gcm.Seal(nil, nonce, pt, nil)
		start := time.Now()
		for range batch {
			if open {
				if _, err := gcm.Open(buf[:0], nonce, sealed, nil); err != nil {
					b.Fatal(err)
				}
				continue
			}
			rand.Read(nonce)
			buf = gcm.Seal(buf[:0], nonce, pt, nil)
		}
		return time.Since(start)
	}
	viaStore := func(s *Store, open bool) time.Duration {
		k, _ := s.active(ctxb, "acme")
		c, _ := k.Cipher("patients", "email")
		sealed, _ := c.Seal(nil, pt)
		start := time.Now()
		for range batch {
			if open {
				c, err := s.Cipher(ctxb, "acme", k.Version(), "patients", "email")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Open(buf[:0], sealed); err != nil {
					b.Fatal(err)
				}
				continue
			}
			k, err := s.active(ctxb, "acme")
			if err != nil {
				b.Fatal(err)
			}
			c, err := k.Cipher("patients", "email")
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = c.Seal(buf[:0], pt); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	median := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	for _, op := range []struct {
		name string
		open bool
	}{{"seal", false}, {"open", true}} {
		b.Run(op.name, func(b *testing.B) {
			var without, with, rel []float64
			for b.Loop() {
				for r := range rounds {
					var tr, tp, ti time.Duration
					for i := range 3 {
						switch (i + r) % 3 {
						case 0:
							tr = raw(op.open)
						case 1:
							tp = viaStore(plain, op.open)
						case 2:
							ti = viaStore(inst, op.open)
						}
					}
					without = append(without, float64(tp)/float64(tr))
					with = append(with, float64(ti)/float64(tr))
					rel = append(rel, float64(ti)/float64(tp))
				}
			}
			b.ReportMetric(median(without), "ratio-without")
			b.ReportMetric(median(with), "ratio-with")
			b.ReportMetric(median(rel), "with/without")
		})
	}
}
