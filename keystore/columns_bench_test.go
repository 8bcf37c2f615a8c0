package keystore

import (
	"fmt"
	"testing"
)

// BenchmarkActiveCipherColumns is a warm ActiveCipher for the last of n
// columns a tenant's key has handed out (after warmStore's own): the
// index of active keys finds the tenant, then the key's ciphers are
// scanned in the order they were derived, so this is the scan's worst
// case at n.
func BenchmarkActiveCipherColumns(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("columns=%d", n), func(b *testing.B) {
			s, _ := warmStore(b)
			var last string
			for i := range n {
				last = fmt.Sprintf("col_%d", i)
				if _, err := s.ActiveCipher(ctxb, "acme", "patients", last); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ActiveCipher(ctxb, "acme", "patients", last); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
