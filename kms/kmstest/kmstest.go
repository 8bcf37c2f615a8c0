// Package kmstest is the conformance suite every [kms.Driver] runs, in the
// shape of gocloud's secrets/drivertest: a driver's test file supplies a
// [Harness] and calls [RunConformanceTests].
//
//	func TestConformance(t *testing.T) {
//		kmstest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (kmstest.Harness, error) {
//			return &harness{…}, nil
//		})
//	}
//
// The suite checks the contract written on kms.Driver: round trips at
// several sizes; randomized wrapping; aad binding (a nil and an empty aad
// are the same); a blob from another master key, a tampered, truncated or
// extended blob all fail with kms.ErrUnwrap, never a panic and never a
// retryable error; an empty plaintext is refused with kms.ErrEmptyPlaintext;
// a cancelled or expired context gives an error matching it; concurrent use;
// no aliasing of the caller's slices; and no plaintext byte in any error.
package kmstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/kms"
)

// Harness makes drivers for the suite.
type Harness interface {
	// MakeDriver returns a driver for the harness's master key. Every call
	// returns a driver for the same key: a blob wrapped by one unwraps with
	// another, as it must after a process restart.
	MakeDriver(ctx context.Context) (kms.Driver, error)
	// MakeOtherDriver returns a driver of the same kind for a different
	// master key.
	MakeOtherDriver(ctx context.Context) (kms.Driver, error)
	// Close releases the harness's resources. Drivers are closed first.
	Close()
}

// HarnessMaker makes a Harness for one test.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// RunConformanceTests runs the suite, one subtest per case, each with a new
// Harness.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"RoundTrip", testRoundTrip},
		{"WrapIsRandomized", testWrapIsRandomized},
		{"SameKeyAcrossDrivers", testSameKeyAcrossDrivers},
		{"WrongAAD", testWrongAAD},
		{"NilAndEmptyAADAreEqual", testNilAndEmptyAAD},
		{"OtherKey", testOtherKey},
		{"Tamper", testTamper},
		{"EmptyPlaintext", testEmptyPlaintext},
		{"Context", testContext},
		{"Buffers", testBuffers},
		{"Concurrent", testConcurrent},
		{"ErrorsHoldNoPlaintext", testErrorsHoldNoPlaintext},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, setup(t, newHarness)) })
	}
}

// env is what each case gets: a context, the harness and a driver for its
// master key, all released by t.Cleanup.
type env struct {
	ctx context.Context
	h   Harness
	drv kms.Driver
}

func setup(t *testing.T, newHarness HarnessMaker) *env {
	t.Helper()
	ctx := t.Context()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatalf("newHarness: %v", err)
	}
	t.Cleanup(h.Close)
	return &env{ctx: ctx, h: h, drv: makeDriver(t, ctx, h.MakeDriver)}
}

// makeDriver makes a driver and closes it in t.Cleanup, which runs before
// the harness's Close because cleanups run last-in first-out.
func makeDriver(t *testing.T, ctx context.Context, make func(context.Context) (kms.Driver, error)) kms.Driver {
	t.Helper()
	drv, err := make(ctx)
	if err != nil {
		t.Fatalf("making driver: %v", err)
	}
	t.Cleanup(func() {
		if err := drv.Close(); err != nil {
			t.Errorf("Driver.Close() = %v, want nil", err)
		}
	})
	return drv
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// mustWrap wraps or fails the test.
func mustWrap(t *testing.T, e *env, plaintext, aad []byte) []byte {
	t.Helper()
	blob, err := e.drv.Wrap(e.ctx, plaintext, aad)
	if err != nil {
		t.Fatalf("Wrap(%d bytes, aad %q) err = %v, want nil", len(plaintext), aad, err)
	}
	if len(blob) == 0 {
		t.Fatalf("Wrap(%d bytes, aad %q) = empty blob, want a ciphertext", len(plaintext), aad)
	}
	return blob
}

// wantUnwrapFails checks that Unwrap of blob with aad fails with
// kms.ErrUnwrap, without a plaintext, a retryable error or a panic.
func wantUnwrapFails(t *testing.T, drv kms.Driver, ctx context.Context, what string, blob, aad []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Unwrap(%s) panicked", what)
		}
	}()
	got, err := drv.Unwrap(ctx, blob, aad)
	switch {
	case err == nil:
		t.Errorf("Unwrap(%s) err = nil, want kms.ErrUnwrap", what)
	case !errors.Is(err, kms.ErrUnwrap):
		t.Errorf("Unwrap(%s) err = %v, want kms.ErrUnwrap", what, err)
	case kms.IsRetryable(err):
		t.Errorf("Unwrap(%s): IsRetryable(%v) = true, want false", what, err)
	}
	if got != nil {
		t.Errorf("Unwrap(%s) returned %d bytes with its error, want nil", what, len(got))
	}
}

func testRoundTrip(t *testing.T, e *env) {
	aads := []struct {
		name string
		aad  []byte
	}{
		{"nil", nil},
		{"text", []byte("colcrypt/dek/v1 tenant-a 1")},
		{"zeros", make([]byte, 7)},
		{"1KiB", randBytes(1024)},
	}
	for _, size := range []int{1, 16, 31, 32, 33, 64, 256, 1024, 4096} {
		for _, a := range aads {
			t.Run(fmt.Sprintf("%dB/aad=%s", size, a.name), func(t *testing.T) {
				pt := randBytes(size)
				blob := mustWrap(t, e, pt, a.aad)
				got, err := e.drv.Unwrap(e.ctx, blob, a.aad)
				if err != nil {
					t.Fatalf("Unwrap(Wrap(%d bytes)) err = %v, want nil", size, err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("Unwrap(Wrap(%d bytes)) = %d other bytes, want the plaintext", size, len(got))
				}
			})
		}
	}
}

func testWrapIsRandomized(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("aad")
	b1, b2 := mustWrap(t, e, pt, aad), mustWrap(t, e, pt, aad)
	if bytes.Equal(b1, b2) {
		t.Fatalf("Wrap twice with the same input = same blob %x, want different blobs", b1)
	}
	for _, b := range [][]byte{b1, b2} {
		if bytes.Contains(b, pt) {
			t.Errorf("Wrap(pt) = blob containing pt, want pt encrypted")
		}
		got, err := e.drv.Unwrap(e.ctx, b, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Unwrap(one of two wraps) err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
		}
	}
}

func testSameKeyAcrossDrivers(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("aad")
	blob := mustWrap(t, e, pt, aad)
	drv2 := makeDriver(t, e.ctx, e.h.MakeDriver)
	got, err := drv2.Unwrap(e.ctx, blob, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("second driver for the same key: Unwrap err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
}

func testWrongAAD(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("colcrypt/dek/v1 tenant-a 1")
	blob := mustWrap(t, e, pt, aad)
	wrong := map[string][]byte{
		"nil aad":                 nil,
		"other tenant":            []byte("colcrypt/dek/v1 tenant-b 1"),
		"other version":           []byte("colcrypt/dek/v1 tenant-a 2"),
		"aad prefix":              aad[:len(aad)-1],
		"aad extended":            append(bytes.Clone(aad), 0),
		"aad with a leading zero": append([]byte{0}, aad...),
	}
	for i := range aad {
		a := bytes.Clone(aad)
		a[i] ^= 1 << (i % 8)
		wrong[fmt.Sprintf("aad byte %d bit %d flipped", i, i%8)] = a
	}
	for what, a := range wrong {
		wantUnwrapFails(t, e.drv, e.ctx, what, blob, a)
	}
	// And the other way: wrapped without aad, unwrapped with some.
	blob = mustWrap(t, e, pt, nil)
	wantUnwrapFails(t, e.drv, e.ctx, "wrapped with nil aad, unwrapped with aad", blob, aad)
}

func testNilAndEmptyAAD(t *testing.T, e *env) {
	pt := randBytes(32)
	for _, c := range []struct {
		name      string
		wrap, use []byte
	}{
		{"wrap nil, unwrap empty", nil, []byte{}},
		{"wrap empty, unwrap nil", []byte{}, nil},
	} {
		blob := mustWrap(t, e, pt, c.wrap)
		got, err := e.drv.Unwrap(e.ctx, blob, c.use)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s: Unwrap err = %v, plaintext equal = %v; want nil, true (nil and empty aad are the same)", c.name, err, bytes.Equal(got, pt))
		}
	}
}

func testOtherKey(t *testing.T, e *env) {
	other := makeDriver(t, e.ctx, e.h.MakeOtherDriver)
	pt, aad := randBytes(32), []byte("aad")
	blob := mustWrap(t, e, pt, aad)
	wantUnwrapFails(t, other, e.ctx, "blob of the first key with the other key", blob, aad)

	otherBlob, err := other.Wrap(e.ctx, pt, aad)
	if err != nil {
		t.Fatalf("other key: Wrap err = %v, want nil", err)
	}
	wantUnwrapFails(t, e.drv, e.ctx, "blob of the other key with the first key", otherBlob, aad)
	if got, err := other.Unwrap(e.ctx, otherBlob, aad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("other key: Unwrap(own blob) err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
}

// testTamper flips a bit in every byte and every bit of the first and last
// bytes, truncates to every length, extends, and substitutes garbage.
func testTamper(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("aad")
	blob := mustWrap(t, e, pt, aad)
	n := len(blob)
	flip := func(i int, bit uint) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 1 << bit
		return b
	}
	type tc struct {
		what string
		blob []byte
	}
	var cases []tc
	for i := range n {
		cases = append(cases, tc{fmt.Sprintf("byte %d bit %d flipped", i, i%8), flip(i, uint(i%8))})
	}
	for bit := range uint(8) {
		cases = append(cases,
			tc{fmt.Sprintf("first byte bit %d flipped", bit), flip(0, bit)},
			tc{fmt.Sprintf("last byte bit %d flipped", bit), flip(n-1, bit)})
	}
	for l := range n {
		cases = append(cases, tc{fmt.Sprintf("truncated to %d bytes", l), bytes.Clone(blob[:l])})
	}
	cases = append(cases,
		tc{"nil", nil},
		tc{"extended by 0x00", append(bytes.Clone(blob), 0)},
		tc{"extended by 0xff", append(bytes.Clone(blob), 0xff)},
		tc{"extended by 16 bytes", append(bytes.Clone(blob), make([]byte, 16)...)},
		tc{"prefixed by 0x00", append([]byte{0}, blob...)},
		tc{"doubled", append(bytes.Clone(blob), blob...)},
		tc{"all zeros", make([]byte, n)},
		tc{"all 0xff", bytes.Repeat([]byte{0xff}, n)},
	)
	for _, l := range []int{1, 13, 29, n, 200} {
		cases = append(cases, tc{fmt.Sprintf("%d random bytes", l), randBytes(l)})
	}
	for _, c := range cases {
		wantUnwrapFails(t, e.drv, e.ctx, c.what, c.blob, aad)
	}
	// The original still works: nothing above changed it.
	if got, err := e.drv.Unwrap(e.ctx, blob, aad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Unwrap(untampered blob) err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
}

func testEmptyPlaintext(t *testing.T, e *env) {
	for _, pt := range [][]byte{nil, {}} {
		blob, err := e.drv.Wrap(e.ctx, pt, []byte("aad"))
		if !errors.Is(err, kms.ErrEmptyPlaintext) {
			t.Errorf("Wrap(%#v) err = %v, want kms.ErrEmptyPlaintext", pt, err)
		}
		if kms.IsRetryable(err) {
			t.Errorf("Wrap(%#v): IsRetryable(%v) = true, want false", pt, err)
		}
		if blob != nil {
			t.Errorf("Wrap(%#v) = %d bytes with its error, want nil", pt, len(blob))
		}
	}
}

func testContext(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("aad")
	blob := mustWrap(t, e, pt, aad)

	cancelled, cancel := context.WithCancel(e.ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(e.ctx, time.Unix(1, 0))
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"expired", expired, context.DeadlineExceeded},
	} {
		if _, err := e.drv.Wrap(c.ctx, pt, aad); !errors.Is(err, c.want) || kms.IsRetryable(err) {
			t.Errorf("Wrap(%s ctx) err = %v, retryable %v; want %v, not retryable", c.name, err, kms.IsRetryable(err), c.want)
		}
		got, err := e.drv.Unwrap(c.ctx, blob, aad)
		if !errors.Is(err, c.want) || kms.IsRetryable(err) {
			t.Errorf("Unwrap(%s ctx) err = %v, retryable %v; want %v, not retryable", c.name, err, kms.IsRetryable(err), c.want)
		}
		if got != nil {
			t.Errorf("Unwrap(%s ctx) returned %d bytes, want nil", c.name, len(got))
		}
	}
}

// testBuffers checks that drivers neither modify nor keep the caller's
// slices, and return a fresh plaintext each time.
func testBuffers(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("colcrypt/dek/v1 tenant-a 1")
	ptIn, aadIn := bytes.Clone(pt), bytes.Clone(aad)
	blob := mustWrap(t, e, ptIn, aadIn)
	if !bytes.Equal(ptIn, pt) || !bytes.Equal(aadIn, aad) {
		t.Fatalf("Wrap modified its plaintext or aad argument")
	}
	for i := range ptIn {
		ptIn[i] ^= 0xff
	}
	for i := range aadIn {
		aadIn[i] ^= 0xff
	}
	blobIn := bytes.Clone(blob)
	got, err := e.drv.Unwrap(e.ctx, blobIn, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Unwrap after the caller reused Wrap's buffers: err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
	if !bytes.Equal(blobIn, blob) {
		t.Fatalf("Unwrap modified its ciphertext argument")
	}
	for i := range got {
		got[i] ^= 0xff
	}
	got2, err := e.drv.Unwrap(e.ctx, blob, aad)
	if err != nil || !bytes.Equal(got2, pt) {
		t.Fatalf("Unwrap after the caller changed the previous result: err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got2, pt))
	}
}

func testConcurrent(t *testing.T, e *env) {
	const goroutines, iterations = 8, 12
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				pt, aad := randBytes(32), fmt.Appendf(nil, "tenant-%d/%d", g, i)
				blob, err := e.drv.Wrap(e.ctx, pt, aad)
				if err != nil {
					t.Errorf("goroutine %d: Wrap err = %v, want nil", g, err)
					return
				}
				got, err := e.drv.Unwrap(e.ctx, blob, aad)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("goroutine %d: Unwrap err = %v, plaintext equal = %v; want nil, true", g, err, bytes.Equal(got, pt))
					return
				}
				if _, err := e.drv.Unwrap(e.ctx, blob, append(aad, '!')); !errors.Is(err, kms.ErrUnwrap) {
					t.Errorf("goroutine %d: Unwrap(other aad) err = %v, want kms.ErrUnwrap", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// testErrorsHoldNoPlaintext drives every failure it can reach and checks
// that no rendering of any error holds the plaintext, whole or in part,
// raw, hex or base64.
func testErrorsHoldNoPlaintext(t *testing.T, e *env) {
	pt, aad := randBytes(32), []byte("aad")
	blob := mustWrap(t, e, pt, aad)
	other := makeDriver(t, e.ctx, e.h.MakeOtherDriver)
	cancelled, cancel := context.WithCancel(e.ctx)
	cancel()
	flipped := bytes.Clone(blob)
	flipped[len(flipped)/2] ^= 1

	var errs []error
	collect := func(_ []byte, err error) {
		if err == nil {
			t.Fatalf("a call that must fail succeeded")
		}
		errs = append(errs, err)
	}
	collect(e.drv.Wrap(cancelled, pt, aad))
	collect(e.drv.Unwrap(cancelled, blob, aad))
	collect(e.drv.Unwrap(e.ctx, blob, []byte("other aad")))
	collect(e.drv.Unwrap(e.ctx, flipped, aad))
	collect(other.Unwrap(e.ctx, blob, aad))
	// An oversized plaintext that begins with pt may be refused; if it is,
	// the refusal must not quote it.
	big := append(bytes.Clone(pt), randBytes(1<<20)...)
	if _, err := e.drv.Wrap(e.ctx, big, aad); err != nil {
		errs = append(errs, err)
	}

	var forbidden []string
	enc := func(b []byte) {
		forbidden = append(forbidden, string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
			base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
	}
	enc(pt)
	for i := 0; i+8 <= len(pt); i += 4 {
		w := pt[i : i+8]
		forbidden = append(forbidden, string(w), hex.EncodeToString(w))
	}
	for _, err := range errs {
		out := fmt.Sprintf("%s|%v|%+v|%#v|%q|%x", err, err, err, err, err, err)
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("error %q contains plaintext bytes", err)
				break
			}
		}
	}
}
