package cipher

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

// The benchmarks compare codec with the floor a correct raw use of
// AES-256-GCM pays: a fresh random nonce per value (NewGCMWithRandomNonce)
// and a fresh output buffer, with associated data of the same length as
// codec's. codec's Seal should stay within 1.5x of BenchmarkRawGCMSeal at
// no more than two allocations:
//
//	go test -run='^$' -bench=. -benchmem -count=5 ./codec/

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
//	go test -run='^$' -bench='Seal(Nonces)?(Parallel)?$' -count=5 ./codec/
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
