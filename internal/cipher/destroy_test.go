package cipher

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/secret"
)

// heldKeys returns, white box, the key bytes c holds: its data key and
// its blind-index subkey (nil until derived). They are the slices that
// Destroy and the garbage collector zero.
func heldKeys(c *Cipher) (dek, bidx []byte) {
	c.dek.Use(func(key []byte) { dek = key })
	if b := c.k.loadBidx(); b != nil {
		bidx = b.key.Bytes()
	}
	return dek, bidx
}

// TestCipherDestroy: after Destroy every method that seals, opens or
// indexes fails with ErrCipherDestroyed, and the data key copy and the
// blind-index subkey bytes the Cipher held are zero.
func TestCipherDestroy(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 0x21), 3, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("ann@example.com")
	gcmValue, _ := c.Seal(nil, pt)
	sivValue, _ := c.SealDeterministic(nil, pt)
	if _, err := c.BlindIndex(nil, pt, DefaultBlindIndexLen); err != nil {
		t.Fatal(err)
	}
	dek, bidxKey := heldKeys(c)
	if allZero(dek) || allZero(bidxKey) {
		t.Fatal("keys are zero before Destroy")
	}
	if c.Destroyed() {
		t.Fatal("Destroyed() = true before Destroy")
	}
	c.Destroy()
	c.Destroy() // idempotent
	if !c.Destroyed() {
		t.Fatal("Destroyed() = false after Destroy")
	}
	if !allZero(dek) || !allZero(bidxKey) {
		t.Fatalf("Destroy left key bytes: data key zero %v, bidx zero %v", allZero(dek), allZero(bidxKey))
	}
	parsed, err := codec.Parse(sivValue)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() ([]byte, error){
		"Seal":              func() ([]byte, error) { return c.Seal(nil, pt) },
		"SealNonces":        func() ([]byte, error) { return c.SealNonces(nil, pt, new(Nonces)) },
		"SealNonces(nil)":   func() ([]byte, error) { return c.SealNonces(nil, pt, nil) },
		"SealDeterministic": func() ([]byte, error) { return c.SealDeterministic(nil, pt) },
		"Open(gcm)":         func() ([]byte, error) { return c.Open(nil, gcmValue) },
		"Open(siv)":         func() ([]byte, error) { return c.Open(nil, sivValue) },
		"OpenValue(siv)":    func() ([]byte, error) { return c.OpenValue(nil, parsed) },
		"BlindIndex":        func() ([]byte, error) { return c.BlindIndex(nil, pt, DefaultBlindIndexLen) },
	} {
		out, err := f()
		if !errors.Is(err, ErrCipherDestroyed) || out != nil {
			t.Errorf("%s after Destroy = %x, %v, want nil, ErrCipherDestroyed", name, out, err)
		}
	}
	if got := ErrCipherDestroyed.Error(); got != "codec: cipher destroyed" {
		t.Errorf("ErrCipherDestroyed = %q", got)
	}
}

// TestCipherDestroyConcurrent destroys ciphers while other goroutines
// seal deterministically, open and index with them: every call either
// fails with ErrCipherDestroyed or gives exactly what an intact cipher of
// the same key gives, never output made with a half-cleared key. Run
// under -race it also checks that Destroy is synchronized with them.
func TestCipherDestroyConcurrent(t *testing.T) {
	dek := patterned(DEKSize, 0x33)
	ref, err := NewCipher(dek, 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("4111 1111 1111 1111")
	wantSIV, _ := ref.SealDeterministic(nil, pt)
	wantIdx, _ := ref.BlindIndex(nil, pt, MaxBlindIndexLen)
	gcmValue, _ := ref.Seal(nil, pt)
	for range 20 {
		c, err := NewCipher(dek, 1, tamperScope)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Go(func() {
				for range 50 {
					var got, want []byte
					var err error
					switch g {
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
						var v []byte
						if v, err = c.Seal(nil, pt); err == nil {
							got, err = ref.Open(nil, v)
						}
						want = pt
					}
					if errors.Is(err, ErrCipherDestroyed) {
						return
					}
					if err != nil || !bytes.Equal(got, want) {
						errs <- errors.New("a call racing Destroy gave wrong output")
						return
					}
				}
			})
		}
		c.Destroy()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if _, err := c.Open(nil, gcmValue); !errors.Is(err, ErrCipherDestroyed) {
			t.Fatalf("Open after Destroy = %v, want ErrCipherDestroyed", err)
		}
	}
}

// TestCipherCollectedZeroes: a Cipher dropped without Destroy (what an
// evicted key's ciphers become once no statement holds them) has its
// data key copy and its blind-index subkey zeroed when the garbage
// collector finds it.
func TestCipherCollectedZeroes(t *testing.T) {
	dek, bidxKey := func() ([]byte, []byte) {
		c, err := NewCipher(patterned(DEKSize, 0x44), 1, tamperScope)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.BlindIndex(nil, []byte("x"), DefaultBlindIndexLen); err != nil {
			t.Fatal(err)
		}
		return heldKeys(c)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !allZero(dek) || !allZero(bidxKey) {
		if time.Now().After(deadline) {
			t.Fatal("a collected Cipher's keys were not zeroed")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestSharedCipherLeavesKey: a Cipher made by NewCipherShared neither
// clears its owner's data key on Destroy nor keeps working once the
// owner cleared it: a first deterministic seal or blind index then fails
// with ErrCipherDestroyed, while what it had built keeps working.
func TestSharedCipherLeavesKey(t *testing.T) {
	raw := patterned(DEKSize, 0x45)
	dek := secret.NewShared(bytes.Clone(raw))
	pt := []byte("ann@example.com")
	a, err := NewCipherShared(dek, 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCipherShared(dek, 1, codec.Scope{Tenant: tamperScope.Tenant, Table: tamperScope.Table, Column: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewCipher(raw, 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ref.SealDeterministic(nil, pt)
	if got, err := a.SealDeterministic(nil, pt); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("SealDeterministic with a shared key = %x, %v, want %x", got, err, want)
	}
	a.Destroy()
	held, _ := heldKeys(b)
	if allZero(held) {
		t.Fatal("Destroy of a Cipher cleared the data key it shares")
	}
	dek.Clear()
	if _, err := b.SealDeterministic(nil, pt); !errors.Is(err, ErrCipherDestroyed) {
		t.Fatalf("first SealDeterministic after the owner cleared the key = %v, want ErrCipherDestroyed", err)
	}
	if _, err := b.BlindIndex(nil, pt, DefaultBlindIndexLen); !errors.Is(err, ErrCipherDestroyed) {
		t.Fatalf("first BlindIndex after the owner cleared the key = %v, want ErrCipherDestroyed", err)
	}
	if v, err := b.Seal(nil, pt); err != nil {
		t.Fatalf("Seal after the owner cleared the key = %v; the GCM state was built", err)
	} else if got, err := b.Open(nil, v); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := NewCipherShared(dek, 1, tamperScope); !errors.Is(err, ErrCipherDestroyed) {
		t.Fatalf("NewCipherShared of a cleared key = %v, want ErrCipherDestroyed", err)
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return len(b) > 0
}
