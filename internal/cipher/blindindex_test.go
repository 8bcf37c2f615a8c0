package cipher

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/normalize"
)

func TestBlindIndexLengths(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 5), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	full := mustIndex(t, c, nil, []byte("ann@example.com"), MaxBlindIndexLen)
	for n := MinBlindIndexLen; n <= MaxBlindIndexLen; n++ {
		got := mustIndex(t, c, []byte("pre"), []byte("ann@example.com"), n)
		if !bytes.HasPrefix(got, []byte("pre")) || len(got) != 3+n {
			t.Fatalf("BlindIndex(\"pre\", _, %d) = %x, want \"pre\" and %d bytes", n, got, n)
		}
		if !bytes.Equal(got[3:], full[:n]) {
			t.Errorf("BlindIndex(_, %d) = %x, want the %d-byte prefix of %x", n, got[3:], n, full)
		}
	}
	for _, n := range []int{-1, 0, 1, MaxBlindIndexLen + 1, 64, 1 << 20} {
		func() {
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("BlindIndex(_, %d) did not panic", n)
					return
				}
				if msg := fmt.Sprint(r); !strings.HasPrefix(msg, "codec: ") {
					t.Errorf("BlindIndex(_, %d) panic = %q, want a codec: message", n, msg)
				}
			}()
			c.BlindIndex(nil, []byte("x"), n)
		}()
	}
}

func TestBlindIndexSeparation(t *testing.T) {
	// A tenant's data key is random per (tenant, version), so tenants and
	// versions are separated by their DEKs; tables and columns by the
	// HKDF info under one DEK.
	dekA, dekB := patterned(DEKSize, 1), patterned(DEKSize, 2)
	pt := []byte("ann@example.com")
	idx := func(dek []byte, version uint32, s codec.Scope) string {
		c, err := NewCipher(dek, version, s)
		if err != nil {
			t.Fatal(err)
		}
		return string(mustIndex(t, c, nil, pt, DefaultBlindIndexLen))
	}
	base := idx(dekA, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"})
	for _, tc := range []struct {
		name string
		got  string
	}{
		{"other column", idx(dekA, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "phone"})},
		{"other table", idx(dekA, 1, codec.Scope{Tenant: "acme", Table: "doctors", Column: "email"})},
		{"table/column boundary", idx(dekA, 1, codec.Scope{Tenant: "acme", Table: "patientse", Column: "mail"})},
		{"other tenant (its own DEK)", idx(dekB, 1, codec.Scope{Tenant: "globex", Table: "patients", Column: "email"})},
		{"other version (its own DEK)", idx(dekB, 2, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"})},
	} {
		if tc.got == base {
			t.Errorf("%s: BlindIndex = %x, same as the base scope's", tc.name, tc.got)
		}
	}
	// The index is a function of the DEK, table, column and input only:
	// the same normalized input gives the same index, across Ciphers.
	if again := idx(dekA, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"}); again != base {
		t.Errorf("BlindIndex not deterministic: %x then %x", base, again)
	}
	if other := idx(dekA, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"}); other != base {
		t.Errorf("BlindIndex differs across Ciphers of one scope: %x, %x", base, other)
	}
}

func TestBlindIndexNormalized(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 5), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	norm := normalize.Chain(mustNormalizer(t, "trim"), mustNormalizer(t, "lower"))
	want := mustIndex(t, c, nil, []byte(norm("ann@example.com")), DefaultBlindIndexLen)
	for _, in := range []string{"ann@example.com", " Ann@Example.com", "ANN@EXAMPLE.COM\n"} {
		if got := mustIndex(t, c, nil, []byte(norm(in)), DefaultBlindIndexLen); !bytes.Equal(got, want) {
			t.Errorf("BlindIndex(norm(%q)) = %x, want %x", in, got, want)
		}
	}
	if got := mustIndex(t, c, nil, []byte(norm("bob@example.com")), DefaultBlindIndexLen); bytes.Equal(got, want) {
		t.Errorf("BlindIndex of another address = %x, same as ann's", got)
	}
	// Empty input has an index too.
	if got := mustIndex(t, c, nil, nil, DefaultBlindIndexLen); len(got) != DefaultBlindIndexLen {
		t.Errorf("BlindIndex(nil) = %x, want %d bytes", got, DefaultBlindIndexLen)
	}
}

// TestBlindIndexConcurrent runs BlindIndex from many goroutines (the
// hashes come from a pool) and checks every result; run it with -race.
func TestBlindIndexConcurrent(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 5), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc"), bytes.Repeat([]byte("d"), 200)}
	var want [][]byte
	for _, in := range inputs {
		want = append(want, specBlindIndex(patterned(DEKSize, 5), tamperScope.Table, tamperScope.Column, in, MaxBlindIndexLen))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := (g + i) % len(inputs)
				if got := mustIndex(t, c, nil, inputs[k], MaxBlindIndexLen); !bytes.Equal(got, want[k]) {
					errs <- fmt.Sprintf("BlindIndex(%q) = %x, want %x", inputs[k], got, want[k])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func mustNormalizer(t *testing.T, name string) normalize.Func {
	t.Helper()
	n, err := normalize.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mustIndex is c.BlindIndex for a cipher that is not destroyed.
func mustIndex(t testing.TB, c *Cipher, dst, normalized []byte, length int) []byte {
	t.Helper()
	b, err := c.BlindIndex(dst, normalized, length)
	if err != nil {
		t.Errorf("BlindIndex(%d bytes, %d) err = %v", len(normalized), length, err)
	}
	return b
}
