package cipher

import (
	"bytes"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
)

// TestRowBinding: a bound value opens with its own row key only; an
// unbound value never opens as a bound one nor the reverse; a binding to
// the empty key differs from none; and the length prefixes keep keys that
// share bytes apart.
func TestRowBinding(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("ann@example.com")
	seals := []struct {
		name string
		seal func(row string) ([]byte, error)
	}{
		{"SealRow", func(row string) ([]byte, error) { return c.SealRow(nil, pt, row) }},
		{"SealDeterministicRow", func(row string) ([]byte, error) { return c.SealDeterministicRow(nil, pt, row) }},
	}
	rows := []string{"row-1", "row-2", "", "row-1\x00", "\x0frow-1", "colcrypt/v1/row"}
	for _, s := range seals {
		for _, row := range rows {
			value, err := s.seal(row)
			if err != nil {
				t.Fatalf("%s(%q): %v", s.name, row, err)
			}
			v, err := codec.Parse(value)
			if err != nil {
				t.Fatalf("codec.Parse(%s(%q)): %v", s.name, row, err)
			}
			if got, err := c.OpenValueRow(nil, v, row); err != nil || !bytes.Equal(got, pt) {
				t.Errorf("OpenValueRow(%s(%q), %q) = %q, %v, want %q", s.name, row, row, got, err, pt)
			}
			if _, err := c.OpenValue(nil, v); err != codec.ErrAuth {
				t.Errorf("OpenValue(%s(%q)) err = %v, want codec.ErrAuth (bound value opened unbound)", s.name, row, err)
			}
			for _, other := range rows {
				if other == row {
					continue
				}
				if _, err := c.OpenValueRow(nil, v, other); err != codec.ErrAuth {
					t.Errorf("OpenValueRow(%s(%q), %q) err = %v, want codec.ErrAuth", s.name, row, other, err)
				}
			}
		}
	}
	for _, unbound := range []func() ([]byte, error){
		func() ([]byte, error) { return c.Seal(nil, pt) },
		func() ([]byte, error) { return c.SealDeterministic(nil, pt) },
	} {
		value, err := unbound()
		if err != nil {
			t.Fatal(err)
		}
		v, _ := codec.Parse(value)
		for _, row := range rows {
			if _, err := c.OpenValueRow(nil, v, row); err != codec.ErrAuth {
				t.Errorf("OpenValueRow(unbound %x, %q) err = %v, want codec.ErrAuth", value, row, err)
			}
		}
	}
	// Bound deterministic values are equal only within one row.
	a, _ := c.SealDeterministicRow(nil, pt, "row-1")
	b, _ := c.SealDeterministicRow(nil, pt, "row-2")
	u, _ := c.SealDeterministic(nil, pt)
	if bytes.Equal(a, b) || bytes.Equal(a, u) {
		t.Errorf("SealDeterministicRow gives equal values across rows or with the unbound value")
	}
}

// TestRowBindingTamper flips every bit of a bound value: each must fail
// with ErrAuth, as for an unbound one.
func TestRowBindingTamper(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range [][]byte{
		must(c.SealRow(nil, []byte("x"), "row-1")),
		must(c.SealDeterministicRow(nil, []byte("x"), "row-1")),
	} {
		for i := range len(value) * 8 {
			bad := bytes.Clone(value)
			bad[i/8] ^= 1 << (i % 8)
			v, err := codec.Parse(bad)
			if err != nil {
				continue // a header that no longer parses
			}
			if _, err := c.OpenValueRow(nil, v, "row-1"); err != codec.ErrAuth {
				t.Fatalf("OpenValueRow(bit %d flipped) err = %v, want codec.ErrAuth", i, err)
			}
		}
	}
}

// TestRowBindingLongKey: a row key longer than the local AAD buffer
// still binds (the buffer grows).
func TestRowBindingLongKey(t *testing.T) {
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	long := string(patterned(rowAADBuf*3, 1))
	value := must(c.SealRow(nil, []byte("x"), long))
	v, _ := codec.Parse(value)
	if got, err := c.OpenValueRow(nil, v, long); err != nil || string(got) != "x" {
		t.Errorf("OpenValueRow(long key) = %q, %v, want x", got, err)
	}
	if _, err := c.OpenValueRow(nil, v, long[:len(long)-1]); err != codec.ErrAuth {
		t.Errorf("OpenValueRow(long key minus one byte) err = %v, want codec.ErrAuth", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestRowBindingAllocs: the warm bound GCM path allocates no more than the
// unbound one: nothing with a buffer for the value.
func TestRowBindingAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c, err := NewCipher(patterned(DEKSize, 3), 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	pt := make([]byte, 64)
	row := "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
	v, _ := codec.Parse(must(c.SealRow(nil, pt, row)))
	buf := make([]byte, 0, 256)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"SealRow(buf)", func() { c.SealRow(buf[:0], pt, row) }},
		{"OpenValueRow(buf)", func() { c.OpenValueRow(buf[:0], v, row) }},
	} {
		if got := testing.AllocsPerRun(100, tc.f); got != 0 {
			t.Errorf("%s allocates %v times, want 0", tc.name, got)
		}
	}
}
