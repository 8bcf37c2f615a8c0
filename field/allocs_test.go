package field_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// TestWarmAllocs pins what a warm seal and open allocate: the stored
// value and the plaintext, nothing else; and AppendOpen into a buffer
// with room allocates nothing. Counts, not timings: they are
// deterministic.
func TestWarmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
		pt := bytes.Repeat([]byte("p"), 64)
		v, err := e.enc.Seal(ctx, s, pt)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		buf := make([]byte, 0, 128)
		for _, tt := range []struct {
			name string
			f    func() error
			want float64
		}{
			{"Seal", func() error { _, err := e.enc.Seal(ctx, s, pt); return err }, 1},
			{"Open", func() error { _, err := e.enc.Open(ctx, s, v); return err }, 1},
			{"AppendOpen", func() error {
				out, err := e.enc.AppendOpen(ctx, buf[:0], s, v)
				if err == nil && !bytes.Equal(out, pt) {
					err = errors.New("wrong plaintext")
				}
				return err
			}, 0},
		} {
			var ferr error
			got := testing.AllocsPerRun(200, func() {
				if err := tt.f(); err != nil {
					ferr = err
				}
			})
			if ferr != nil {
				t.Fatalf("%s: %v", tt.name, ferr)
			}
			if got != tt.want {
				t.Errorf("%s allocs = %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}

// TestOpenFastPathRefuses checks that the open of a plain GCM value,
// which skips the general parse, refuses what the parse refused: a value
// whose header names another version or algorithm, a truncated value,
// and a tampered header byte, each codec.ErrAuth; and that AppendOpen
// leaves dst's existing bytes alone.
func TestOpenFastPathRefuses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		s := field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
		v, err := e.enc.Seal(ctx, s, []byte("secret"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(v)) }
		for name, bad := range map[string][]byte{
			"version 2":    mod(func(b []byte) []byte { b[2] = 2; return b }),
			"algorithm 2":  mod(func(b []byte) []byte { b[1] = 2; return b }),
			"version 0":    mod(func(b []byte) []byte { b[2] = 0; return b }),
			"truncated":    v[:len(v)-1],
			"header only":  v[:3],
			"nonce bit":    mod(func(b []byte) []byte { b[3] ^= 1; return b }),
			"last tag bit": mod(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }),
		} {
			if _, err := e.enc.Open(ctx, s, bad); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("Open(%s) err = %v, want codec.ErrAuth", name, err)
			}
		}
		out, err := e.enc.AppendOpen(ctx, []byte("kept:"), s, v)
		if err != nil || string(out) != "kept:secret" {
			t.Errorf("AppendOpen(\"kept:\") = %q, %v; want \"kept:secret\"", out, err)
		}
	})
}
