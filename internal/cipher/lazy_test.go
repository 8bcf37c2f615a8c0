package cipher

import (
	"bytes"
	"runtime"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/secret"
)

// maxRandomizedCipherBytes bounds the heap a Cipher keeps for a column
// that only seals and opens randomized values, its data key shared with
// the tenant's other columns as a key store shares it: the AES-256-GCM
// state (768 bytes in crypto/internal's GCM type: two AES key schedules
// and a GHASH table), the Cipher (48) and its key-dependent part (32),
// and its associated data (32), 880 bytes in all. It kept about 2,700
// before the AES-SIV and blind-index state was built lazily and Seal and
// Open shared one AEAD, about 1,150 while it still derived and kept its
// SIV and blind-index subkey bytes up front, and 960 while it kept its
// scope as three strings beside its associated data and a lock it needs
// only for deterministic and indexed columns.
const maxRandomizedCipherBytes = 920

// TestRandomizedCipherHeap: a Cipher that seals and opens randomized
// values keeps at most maxRandomizedCipherBytes of heap.
func TestRandomizedCipherHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds to every allocation")
	}
	dek := secret.NewShared(patterned(DEKSize, 0x61))
	pt := []byte("ann@example.com")
	const n = 4000
	cs := make([]*Cipher, n)
	before := liveHeap()
	for i := range cs {
		c, err := NewCipherShared(dek, 1, tamperScope)
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Seal(nil, pt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Open(nil, v); err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	after := liveHeap()
	runtime.KeepAlive(cs)
	if per := (int64(after) - int64(before)) / n; per > maxRandomizedCipherBytes {
		t.Errorf("a randomized Cipher keeps %d bytes, want at most %d", per, maxRandomizedCipherBytes)
	} else {
		t.Logf("a randomized Cipher keeps %d bytes", per)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestRandomizedCipherBuildsOnlyGCM: a Cipher used only for randomized
// values never builds its AES-SIV or blind-index state; the first
// deterministic seal or blind index builds its own state, once.
func TestRandomizedCipherBuildsOnlyGCM(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 0x61), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("ann@example.com")
	v, err := c.Seal(nil, pt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Open(nil, v); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if c.k.loadSIV() != nil || c.k.loadBidx() != nil {
		t.Fatal("a randomized seal and open built AES-SIV or blind-index state")
	}
	if _, err := c.SealDeterministic(nil, pt); err != nil {
		t.Fatal(err)
	}
	s := c.k.loadSIV()
	if s == nil || c.k.loadBidx() != nil {
		t.Fatal("SealDeterministic did not build exactly the AES-SIV state")
	}
	if _, err := c.BlindIndex(nil, pt, DefaultBlindIndexLen); err != nil {
		t.Fatal(err)
	}
	if c.k.loadBidx() == nil || c.k.loadSIV() != s {
		t.Fatal("BlindIndex did not build the blind-index state, or rebuilt the AES-SIV state")
	}
}

// TestLazyStateFirstUseConcurrent: goroutines that use a fresh Cipher's
// deterministic mode and blind index for the first time together all get
// the values a Cipher built up front gives, and share one state. Run it
// under -race: the state is built under the Cipher's lock and read
// without one.
func TestLazyStateFirstUseConcurrent(t *testing.T) {
	dek := patterned(DEKSize, 0x62)
	ref, err := NewCipher(dek, 2, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("4111 1111 1111 1111")
	wantSIV, _ := ref.SealDeterministic(nil, pt)
	wantIdx, _ := ref.BlindIndex(nil, pt, MaxBlindIndexLen)
	for range 20 {
		c, err := NewCipher(dek, 2, tamperScope)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		states := make([]*sivState, 8)
		bad := make(chan string, 8)
		for g := range 8 {
			wg.Go(func() {
				var got, want []byte
				var err error
				switch g % 4 {
				case 0:
					got, err = c.SealDeterministic(nil, pt)
					want = wantSIV
				case 1:
					got, err = c.Open(nil, wantSIV)
					want = pt
				case 2:
					got, err = c.BlindIndex(nil, pt, MaxBlindIndexLen)
					want = wantIdx
				case 3:
					got, err = c.SealDeterministicRow(nil, pt, "row-1")
					if err == nil {
						var v codec.Value
						if v, err = codec.Parse(got); err == nil {
							got, err = ref.OpenValueRow(nil, v, "row-1")
						}
					}
					want = pt
				}
				if err != nil || !bytes.Equal(got, want) {
					bad <- "first use racing another gave wrong output"
				}
				states[g] = c.k.loadSIV()
			})
		}
		wg.Wait()
		close(bad)
		for msg := range bad {
			t.Fatal(msg)
		}
		for _, s := range states[1:] {
			if s != nil && states[0] != nil && s != states[0] {
				t.Fatal("the AES-SIV state was built twice")
			}
		}
	}
}
