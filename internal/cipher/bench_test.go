package cipher

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
	"time"

	tinksubtle "github.com/tink-crypto/tink-go/v2/daead/subtle"

	"github.com/colcrypt/colcrypt/codec"
)

// The benchmarks compare the Cipher with the floor a correct raw use of
// AES-256-GCM pays: a fresh random nonce per value (NewGCMWithRandomNonce)
// and a fresh output buffer, with associated data of the same length as
// codec's. codec's Seal should stay within 1.5x of BenchmarkRawGCMSeal at
// no more than two allocations:
//
//	go test -run='^$' -bench=. -benchmem -count=5 ./internal/cipher/

var benchSizes = []int{64, 1024}

var benchScope = codec.Scope{Tenant: "tenant-0042", Table: "patients", Column: "email"}

func benchCipher(b *testing.B) *Cipher {
	c, err := NewCipher(patterned(DEKSize, 1), 1, benchScope)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func rawGCM(b *testing.B) (cipher.AEAD, []byte) {
	block, err := aes.NewCipher(patterned(32, 1))
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		b.Fatal(err)
	}
	return g, specAAD(1, 1, benchScope.Tenant, benchScope.Table, benchScope.Column)
}

func forSizes(b *testing.B, f func(b *testing.B, pt []byte)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			pt := patterned(n, 7)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			f(b, pt)
		})
	}
}

func BenchmarkRawGCMSeal(b *testing.B) {
	g, aad := rawGCM(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		for b.Loop() {
			g.Seal(nil, nil, pt, aad)
		}
	})
}

func BenchmarkRawGCMOpen(b *testing.B) {
	g, aad := rawGCM(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		ct := g.Seal(nil, nil, pt, aad)
		for b.Loop() {
			if _, err := g.Open(nil, nil, ct, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	c := benchCipher(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		for b.Loop() {
			if _, err := c.Seal(nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	c := benchCipher(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		v, _ := c.Seal(nil, pt)
		for b.Loop() {
			if _, err := c.Open(nil, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSealDeterministic(b *testing.B) {
	c := benchCipher(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		for b.Loop() {
			if _, err := c.SealDeterministic(nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpenDeterministic(b *testing.B) {
	c := benchCipher(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		v, _ := c.SealDeterministic(nil, pt)
		for b.Loop() {
			if _, err := c.Open(nil, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBlindIndex(b *testing.B) {
	c := benchCipher(b)
	forSizes(b, func(b *testing.B, pt []byte) {
		for b.Loop() {
			c.BlindIndex(nil, pt, DefaultBlindIndexLen)
		}
	})
}

// BenchmarkNewCipher is the cost of a key cache miss after the KMS call:
// three HKDF derivations and three key schedules.
func BenchmarkNewCipher(b *testing.B) {
	dek := patterned(DEKSize, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewCipher(dek, 1, benchScope); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealNonces is Seal with nonces read in bulk (nonces.go), the
// bulk paths' way; compare with BenchmarkSeal, and the Parallel pair for
// how each scales across cores:
//
//	go test -run='^$' -bench='Seal(Nonces)?(Parallel)?$' -count=5 ./internal/cipher/
func BenchmarkSealNonces(b *testing.B) {
	c := benchCipher(b)
	var n Nonces
	forSizes(b, func(b *testing.B, pt []byte) {
		for b.Loop() {
			c.SealNonces(nil, pt, &n)
		}
	})
}

func BenchmarkSealParallel(b *testing.B) {
	c := benchCipher(b)
	pt := patterned(64, 7)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Seal(nil, pt)
		}
	})
}

func BenchmarkSealNoncesParallel(b *testing.B) {
	c := benchCipher(b)
	pt := patterned(64, 7)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var n Nonces
		for pb.Next() {
			c.SealNonces(nil, pt, &n)
		}
	})
}

// BenchmarkDeterministicVsRaw interleaves deterministic seals (or opens)
// of a 64-byte value with raw AES-256-GCM seals (or opens) of the same
// value and associated-data length, in alternating batches within one
// benchmark, so machine noise hits both alike, and reports the ratio of
// their fastest batches: the figure BENCHMARKS.md tracks (goal 2x).
//
//	go test -run='^$' -bench=DeterministicVsRaw -benchtime=200x -count=4 ./internal/cipher/
func BenchmarkDeterministicVsRaw(b *testing.B) {
	c := benchCipher(b)
	g, aad := rawGCM(b)
	pt := patterned(64, 7)
	rawValue := g.Seal(nil, nil, pt, aad)
	value, err := c.SealDeterministic(nil, pt)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("seal", func(b *testing.B) {
		interleave(b, "seal",
			func() error { g.Seal(nil, nil, pt, aad); return nil },
			func() error { _, err := c.SealDeterministic(nil, pt); return err })
	})
	b.Run("open", func(b *testing.B) {
		interleave(b, "open",
			func() error { _, err := g.Open(nil, nil, rawValue, aad); return err },
			func() error { _, err := c.Open(nil, value); return err })
	})
	// What deterministic mode cost before, in the same run: Tink's
	// AES-SIV, kept per Cipher, with the column's associated data.
	sivAAD := specAAD(2, 1, benchScope.Tenant, benchScope.Table, benchScope.Column)
	tink, err := tinksubtle.NewAESSIV(specDerive(patterned(DEKSize, 1), benchScope.Table, benchScope.Column).siv)
	if err != nil {
		b.Fatal(err)
	}
	tinkValue, err := tink.EncryptDeterministically(pt, sivAAD)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("tink-seal", func(b *testing.B) {
		interleave(b, "tink-seal",
			func() error { g.Seal(nil, nil, pt, aad); return nil },
			func() error { _, err := tink.EncryptDeterministically(pt, sivAAD); return err })
	})
	b.Run("tink-open", func(b *testing.B) {
		interleave(b, "tink-open",
			func() error { _, err := g.Open(nil, nil, rawValue, aad); return err },
			func() error { _, err := tink.DecryptDeterministically(tinkValue, sivAAD); return err })
	})
	// The floor of AES-SIV over crypto/aes: the single-block AES calls
	// a 64-byte value needs (four CTR blocks, four CMAC blocks) and the
	// output buffer, nothing else, against the same raw open.
	block, err := aes.NewCipher(patterned(32, 2))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("floor", func(b *testing.B) {
		x := make([]byte, 16)
		interleave(b, "floor",
			func() error { _, err := g.Open(nil, nil, rawValue, aad); return err },
			func() error {
				out := make([]byte, len(pt))
				for range 2 * len(pt) / 16 {
					block.Encrypt(x, x)
				}
				out[0] = x[0]
				return nil
			})
	})
}

// interleave runs batches of raw and ours in turn and reports the time
// per value of the fastest batch of each and their ratio (ours/raw).
func interleave(b *testing.B, name string, raw, ours func() error) {
	const batch = 2000
	best := [2]time.Duration{1 << 62, 1 << 62}
	for b.Loop() {
		for i, f := range [2]func() error{raw, ours} {
			start := time.Now()
			for range batch {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			best[i] = min(best[i], time.Since(start))
		}
	}
	b.ReportMetric(float64(best[0].Nanoseconds())/batch, "raw-ns/value")
	b.ReportMetric(float64(best[1].Nanoseconds())/batch, name+"-ns/value")
	b.ReportMetric(float64(best[1])/float64(best[0]), name+"/raw")
}
