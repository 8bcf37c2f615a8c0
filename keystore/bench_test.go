package keystore

import (
	"testing"
)

func warmStore(tb testing.TB) (*Store, *dataKey) {
	tb.Helper()
	tdb := sqliteOnly(tb)
	s := newTestStore(tb, tdb, tdb.db, newInsecureTestKMS(tb).keeper(testKEK))
	k, err := s.active(ctxb, "acme")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := k.Cipher("patients", "name"); err != nil {
		tb.Fatal(err)
	}
	return s, k
}

// TestHotPathsAllocationFree pins what the benchmarks report: a warm
// Active, Key, Key.Cipher, Cipher and ActiveCipher allocate nothing.
func TestHotPathsAllocationFree(t *testing.T) {
	s, k := warmStore(t)
	for name, f := range map[string]func(){
		"Active":       func() { s.active(ctxb, "acme") },
		"Key":          func() { s.lookupKey(ctxb, "acme", 1) },
		"Key.Cipher":   func() { k.Cipher("patients", "name") },
		"Cipher":       func() { s.Cipher(ctxb, "acme", 1, "patients", "name") },
		"ActiveCipher": func() { s.ActiveCipher(ctxb, "acme", "patients", "name") },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("warm %s allocates %v times per call, want 0", name, n)
		}
	}
}

func BenchmarkActiveWarm(b *testing.B) {
	s, _ := warmStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.active(ctxb, "acme"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkActiveWarmParallel(b *testing.B) {
	s, _ := warmStore(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.active(ctxb, "acme"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkKeyWarm(b *testing.B) {
	s, _ := warmStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.lookupKey(ctxb, "acme", 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyCipherWarm(b *testing.B) {
	_, k := warmStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Cipher("patients", "name"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActiveCipherSeal is the whole per-value path of a seal: the
// active key, its column cipher, and AES-GCM over a short value.
func BenchmarkActiveCipherSeal(b *testing.B) {
	s, _ := warmStore(b)
	pt := []byte("ann@example.com")
	buf := make([]byte, 0, 128)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		k, err := s.active(ctxb, "acme")
		if err != nil {
			b.Fatal(err)
		}
		c, err := k.Cipher("patients", "email")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Seal(buf[:0], pt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCipherWarm is Key and Key.Cipher in one, from the cipher
// index: the key lookup of every open.
func BenchmarkCipherWarm(b *testing.B) {
	s, _ := warmStore(b)
	if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Cipher(ctxb, "acme", 1, "patients", "name"); err != nil {
			b.Fatal(err)
		}
	}
}
