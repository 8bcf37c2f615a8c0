package cipher

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

func TestNewCipherErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dek     []byte
		version uint32
	}{
		{"nil DEK", nil, 1},
		{"short DEK", make([]byte, 16), 1},
		{"31-byte DEK", make([]byte, 31), 1},
		{"33-byte DEK", make([]byte, 33), 1},
		{"64-byte DEK", make([]byte, 64), 1},
		{"version 0", make([]byte, DEKSize), 0},
	} {
		c, err := NewCipher(tc.dek, tc.version, tamperScope)
		if err == nil || c != nil {
			t.Errorf("NewCipher(%s) = %v, %v, want an error", tc.name, c, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "codec: ") {
			t.Errorf("NewCipher(%s) err = %q, want a codec: prefix", tc.name, err)
		}
	}
}

func TestNewCipherKeepsNoDEKReference(t *testing.T) {
	dek := patterned(DEKSize, 3)
	c, err := NewCipher(dek, 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Seal(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.SealDeterministic(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	bidx := mustIndex(t, c, nil, []byte("x"), 16)
	clear(dek) // the caller zeroes its copy, as the key cache does on eviction
	if got, err := c.Open(nil, v); err != nil || string(got) != "x" {
		t.Errorf("Open after the DEK was cleared = %q, %v, want \"x\"", got, err)
	}
	if again, _ := c.SealDeterministic(nil, []byte("x")); !bytes.Equal(again, s) {
		t.Errorf("SealDeterministic after the DEK was cleared = %x, want %x", again, s)
	}
	if again := mustIndex(t, c, nil, []byte("x"), 16); !bytes.Equal(again, bidx) {
		t.Errorf("BlindIndex after the DEK was cleared = %x, want %x", again, bidx)
	}
}

func TestCipherAccessors(t *testing.T) {
	s := codec.Scope{Tenant: "t", Table: "tb", Column: "col"}
	c, err := NewCipher(patterned(DEKSize, 3), 77, s)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != 77 || c.Scope() != s {
		t.Errorf("Version, codec.Scope = %d, %+v, want 77, %+v", c.Version(), c.Scope(), s)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, version := range []uint32{1, 127, 128, 300, 1<<32 - 1} {
		for _, s := range []codec.Scope{{}, tamperScope, {Tenant: "müller", Table: "пациенты", Column: "名前"}, {Tenant: "\x00\xff", Column: "\xc0"}} {
			c, err := NewCipher(patterned(DEKSize, byte(version)), version, s)
			if err != nil {
				t.Fatal(err)
			}
			var nonces Nonces
			sealNonces := func(dst, pt []byte) ([]byte, error) { return c.SealNonces(dst, pt, &nonces) }
			for _, pt := range [][]byte{nil, {}, {0}, []byte("ann@example.com"), bytes.Repeat([]byte{0xC0}, 1000)} {
				for _, seal := range []func([]byte, []byte) ([]byte, error){c.Seal, c.SealDeterministic, sealNonces} {
					v, err := seal(nil, pt)
					if err != nil {
						t.Fatal(err)
					}
					if !codec.IsValue(v) {
						t.Fatalf("sealed value %x does not start with codec.Magic", v)
					}
					got, err := c.Open(nil, v)
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("Open(seal(%x)) = %x, %v under %+v v%d", pt, got, err, s, version)
					}
				}
			}
		}
	}
}

// TestSealOpenAppend checks the dst conventions: Seal and Open append, and
// leave what dst held untouched.
func TestSealOpenAppend(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	var nonces Nonces
	sealNonces := func(dst, pt []byte) ([]byte, error) { return c.SealNonces(dst, pt, &nonces) }
	for _, seal := range []func([]byte, []byte) ([]byte, error){c.Seal, c.SealDeterministic, sealNonces} {
		prefix := []byte("prefix")
		dst := append(make([]byte, 0, 100), prefix...)
		v, err := seal(dst, []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(v, prefix) {
			t.Fatalf("seal(dst) = %x, want it to start with dst", v)
		}
		out, err := c.Open([]byte("out:"), v[len(prefix):])
		if err != nil || string(out) != "out:hello" {
			t.Fatalf("Open(\"out:\", v) = %q, %v, want \"out:hello\"", out, err)
		}
		// Sealing in place over the plaintext's own buffer is not
		// supported by the contract, but sealing two values into one
		// growing buffer is.
		two, err := seal(v, []byte("world"))
		if err != nil {
			t.Fatal(err)
		}
		second := two[len(v):]
		if got, err := c.Open(nil, second); err != nil || string(got) != "world" {
			t.Fatalf("Open(second value) = %q, %v, want \"world\"", got, err)
		}
		if got, err := c.Open(nil, v[len(prefix):]); err != nil || string(got) != "hello" {
			t.Fatalf("Open(first value) after appending = %q, %v, want \"hello\"", got, err)
		}
	}
}

func TestSealRandomizedDeterministic(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 1000 {
		v, err := c.Seal(nil, []byte("same"))
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(v[3 : 3+nonceSize])
		if seen[nonce] {
			t.Fatalf("Seal repeated nonce %x", nonce)
		}
		seen[nonce] = true
	}
	a, _ := c.SealDeterministic(nil, []byte("same"))
	b, _ := c.SealDeterministic(nil, []byte("same"))
	d, _ := c.SealDeterministic(nil, []byte("samf"))
	if !bytes.Equal(a, b) || bytes.Equal(a, d) {
		t.Errorf("SealDeterministic: same input %x, %x; other input %x; want equal, then different", a, b, d)
	}
}

func TestSealSizeBounds(t *testing.T) {
	// MaxPlaintextSize leaves room for every overhead, so whatever Seal
	// accepts, Parse accepts.
	for _, alg := range []codec.Algorithm{codec.AESGCM, codec.AESSIV} {
		if n := MaxPlaintextSize + codec.Overhead(alg, 1<<32-1); n > codec.MaxValueSize {
			t.Errorf("MaxPlaintextSize + codec.Overhead(%v, max version) = %d, over codec.MaxValueSize %d", alg, n, codec.MaxValueSize)
		}
	}
	// And for real, at the longest header, with GCM (AES-SIV through Tink
	// is pure Go and slow on 64 MiB; it shares the bound check).
	c, err := NewCipher(patterned(DEKSize, 3), 1<<32-1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, MaxPlaintextSize+1)
	v, err := c.Seal(nil, big[:MaxPlaintextSize])
	if err != nil {
		t.Fatalf("Seal(MaxPlaintextSize) err = %v", err)
	}
	if got, err := c.Open(big[:0], v); err != nil || len(got) != MaxPlaintextSize {
		t.Fatalf("Open(Seal(MaxPlaintextSize)) = %d bytes, %v", len(got), err)
	}
	for _, seal := range []struct {
		name string
		f    func([]byte, []byte) ([]byte, error)
	}{{"Seal", c.Seal}, {"SealDeterministic", c.SealDeterministic}} {
		v, err = seal.f(nil, big)
		if err == nil || v != nil || errors.Is(err, codec.ErrAuth) || !strings.HasPrefix(err.Error(), "codec: ") {
			t.Errorf("%s(MaxPlaintextSize+1) = %d bytes, %v, want a codec: error", seal.name, len(v), err)
		}
	}
}

// TestSealAllocs pins the allocation count Seal and Open promise: one for
// the value, one for the plaintext, when dst is nil; none when dst has
// room. SealDeterministic goes through Tink, which allocates more.
func TestSealAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := make([]byte, 64)
	v, _ := c.Seal(nil, pt)
	dv, _ := c.SealDeterministic(nil, pt)
	p, _ := codec.Parse(dv)
	buf := make([]byte, 0, 256)
	for _, tc := range []struct {
		name string
		max  float64
		f    func()
	}{
		{"Seal(nil)", 1, func() { c.Seal(nil, pt) }},
		{"Seal(buf)", 0, func() { c.Seal(buf[:0], pt) }},
		{"Open(nil)", 1, func() { c.Open(nil, v) }},
		{"Open(buf)", 0, func() { c.Open(buf[:0], v) }},
		// Deterministic mode: the S2V state of the column's associated
		// data is kept, so a seal is one output buffer.
		{"SealDeterministic(nil)", 1, func() { c.SealDeterministic(nil, pt) }},
		{"SealDeterministic(buf)", 0, func() { c.SealDeterministic(buf[:0], pt) }},
		{"Open(deterministic, nil)", 1, func() { c.Open(nil, dv) }},
		{"Open(deterministic, buf)", 0, func() { c.Open(buf[:0], dv) }},
		{"OpenValue(deterministic, buf)", 0, func() { c.OpenValue(buf[:0], p) }},
		{"SealDeterministicRow(buf)", 0, func() { c.SealDeterministicRow(buf[:0], pt, "row-1") }},
		// The HMAC sum buffer escapes through the hash.Hash interface.
		{"BlindIndex(buf)", 1, func() { c.BlindIndex(buf[:0], pt, 16) }},
	} {
		if got := testing.AllocsPerRun(100, tc.f); got > tc.max {
			t.Errorf("%s allocates %v times, want at most %v", tc.name, got, tc.max)
		}
	}
}

func TestCipherConcurrent(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := []byte{byte(g)}
			for range 200 {
				for _, seal := range []func([]byte, []byte) ([]byte, error){c.Seal, c.SealDeterministic} {
					v, err := seal(nil, pt)
					if err == nil {
						var got []byte
						got, err = c.Open(nil, v)
						if err == nil && !bytes.Equal(got, pt) {
							err = errors.New("wrong plaintext")
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSealedOverhead checks that sealed values are exactly
// codec.Overhead longer than their plaintext, at every header length.
func TestSealedOverhead(t *testing.T) {
	for _, version := range []uint32{1, 127, 128, 1<<32 - 1} {
		c, err := NewCipher(patterned(DEKSize, 1), version, tamperScope)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 100} {
			pt := make([]byte, n)
			g, _ := c.Seal(nil, pt)
			s, _ := c.SealDeterministic(nil, pt)
			if got, want := len(g)-n, codec.Overhead(codec.AESGCM, version); got != want {
				t.Errorf("len(Seal(%d bytes)) - %d at v%d = %d, want %d", n, n, version, got, want)
			}
			if got, want := len(s)-n, codec.Overhead(codec.AESSIV, version); got != want {
				t.Errorf("len(SealDeterministic(%d bytes)) - %d at v%d = %d, want %d", n, n, version, got, want)
			}
			if got, want := headerLen(version), len(specHeader(1, version)); got != want {
				t.Errorf("headerLen(%d) = %d, spec %d", version, got, want)
			}
		}
	}
}

// TestDocumentedSizes pins the numbers docs/FORMAT.md states.
func TestDocumentedSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"DEKSize", DEKSize, 32},
		{"MaxPlaintextSize", MaxPlaintextSize, 67108800},
		{"MinBlindIndexLen", MinBlindIndexLen, 2},
		{"MaxBlindIndexLen", MaxBlindIndexLen, 32},
		{"DefaultBlindIndexLen", DefaultBlindIndexLen, 16},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d (as docs/FORMAT.md says)", tc.name, tc.got, tc.want)
		}
	}
}
