package main

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSeal is the in-memory contenders on one goroutine, for a
// noise-free look at the cost per value that the program's table measures
// under concurrency.
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	e, err := newKMSEnv(ctx, 4)
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	for _, mk := range []func(context.Context, *kmsEnv) (*contender, error){newColcryptWarm, newAESGCM} {
		c, err := mk(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		ph, err := c.next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{64, 1024} {
			pt := printable(n)
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(n))
				i := 0
				for b.Loop() {
					if _, err := ph.s.seal(ctx, i&3, pt); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
