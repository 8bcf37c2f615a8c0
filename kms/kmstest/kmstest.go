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
// several sizes and wrap contexts; randomized wrapping; binding to the
// whole kms.WrapContext (another purpose, tenant or version, or a tenant
// shifted across the purpose's boundary, fails); a blob from another
// master key, a tampered, truncated or extended blob all fail with
// kms.ErrUnwrap, never a panic and never a retryable error; an empty
// plaintext is refused, not retryably; a cancelled or expired context
// gives an error matching it; concurrent use; no aliasing of the caller's
// slices; and no plaintext byte in any error.
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
		{"WrongContext", testWrongContext},
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

// dekContext is the wrap context of tenant's data key version v, as
// colcrypt's keystore builds it.
func dekContext(tenant string, v uint32) kms.WrapContext {
	return kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: tenant, Version: v}
}

// mustWrap wraps or fails the test.
func mustWrap(t *testing.T, e *env, plaintext []byte, wc kms.WrapContext) []byte {
	t.Helper()
	blob, err := e.drv.Wrap(e.ctx, plaintext, wc)
	if err != nil {
		t.Fatalf("Wrap(%d bytes, %+v) err = %v, want nil", len(plaintext), wc, err)
	}
	if len(blob) == 0 {
		t.Fatalf("Wrap(%d bytes, %+v) = empty blob, want a ciphertext", len(plaintext), wc)
	}
	return blob
}

// wantUnwrapFails checks that Unwrap of blob with wc fails with
// kms.ErrUnwrap, without a plaintext, a retryable error or a panic.
func wantUnwrapFails(t *testing.T, drv kms.Driver, ctx context.Context, what string, blob []byte, wc kms.WrapContext) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Unwrap(%s) panicked", what)
		}
	}()
	got, err := drv.Unwrap(ctx, blob, wc)
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
	contexts := []struct {
		name string
		wc   kms.WrapContext
	}{
		{"no-tenant", kms.WrapContext{Purpose: "colcrypt/doctor/v1"}},
		{"dek", dekContext("tenant-a", 1)},
		{"unicode", dekContext("Zürich/東京 tenant", 1<<32-1)},
		{"1KiB", dekContext(hex.EncodeToString(randBytes(512)), 7)},
	}
	for _, size := range []int{1, 16, 31, 32, 33, 64, 256, 1024, 4096} {
		for _, c := range contexts {
			t.Run(fmt.Sprintf("%dB/ctx=%s", size, c.name), func(t *testing.T) {
				pt := randBytes(size)
				blob := mustWrap(t, e, pt, c.wc)
				got, err := e.drv.Unwrap(e.ctx, blob, c.wc)
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
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	b1, b2 := mustWrap(t, e, pt, wc), mustWrap(t, e, pt, wc)
	if bytes.Equal(b1, b2) {
		t.Fatalf("Wrap twice with the same input = same blob %x, want different blobs", b1)
	}
	for _, b := range [][]byte{b1, b2} {
		if bytes.Contains(b, pt) {
			t.Errorf("Wrap(pt) = blob containing pt, want pt encrypted")
		}
		got, err := e.drv.Unwrap(e.ctx, b, wc)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Unwrap(one of two wraps) err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
		}
	}
}

func testSameKeyAcrossDrivers(t *testing.T, e *env) {
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	blob := mustWrap(t, e, pt, wc)
	drv2 := makeDriver(t, e.ctx, e.h.MakeDriver)
	got, err := drv2.Unwrap(e.ctx, blob, wc)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("second driver for the same key: Unwrap err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
}

// testWrongContext: a blob unwraps only with the context it was wrapped
// with, field by field and across field boundaries.
func testWrongContext(t *testing.T, e *env) {
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	blob := mustWrap(t, e, pt, wc)
	wrong := map[string]kms.WrapContext{
		"zero context":            {},
		"no tenant":               dekContext("", 1),
		"other tenant":            dekContext("tenant-b", 1),
		"other version":           dekContext("tenant-a", 2),
		"version 0":               dekContext("tenant-a", 0),
		"other purpose":           {Purpose: "colcrypt/dek/v2", Tenant: "tenant-a", Version: 1},
		"tenant prefix":           dekContext("tenant-", 1),
		"tenant extended":         dekContext("tenant-a\x00", 1),
		"tenant with a version":   dekContext("tenant-a1", 1),
		"purpose takes a byte":    {Purpose: "colcrypt/dek/v1t", Tenant: "enant-a", Version: 1},
		"tenant takes a byte":     {Purpose: "colcrypt/dek/v", Tenant: "1tenant-a", Version: 1},
		"tenant upper case":       dekContext("TENANT-A", 1),
		"tenant with a leading 0": dekContext("\x00tenant-a", 1),
	}
	for i := range len(wc.Tenant) {
		b := []byte(wc.Tenant)
		b[i] ^= 1
		wrong[fmt.Sprintf("tenant byte %d flipped", i)] = dekContext(string(b), 1)
	}
	for what, w := range wrong {
		wantUnwrapFails(t, e.drv, e.ctx, what, blob, w)
	}
	// And the other way: wrapped without a tenant, unwrapped with one.
	blob = mustWrap(t, e, pt, dekContext("", 1))
	wantUnwrapFails(t, e.drv, e.ctx, "wrapped without a tenant, unwrapped with one", blob, wc)
}

func testOtherKey(t *testing.T, e *env) {
	other := makeDriver(t, e.ctx, e.h.MakeOtherDriver)
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	blob := mustWrap(t, e, pt, wc)
	wantUnwrapFails(t, other, e.ctx, "blob of the first key with the other key", blob, wc)

	otherBlob, err := other.Wrap(e.ctx, pt, wc)
	if err != nil {
		t.Fatalf("other key: Wrap err = %v, want nil", err)
	}
	wantUnwrapFails(t, e.drv, e.ctx, "blob of the other key with the first key", otherBlob, wc)
	if got, err := other.Unwrap(e.ctx, otherBlob, wc); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("other key: Unwrap(own blob) err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
}

// testTamper flips a bit in every byte and every bit of the first and last
// bytes, truncates to every length, extends, and substitutes garbage.
func testTamper(t *testing.T, e *env) {
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	blob := mustWrap(t, e, pt, wc)
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
		wantUnwrapFails(t, e.drv, e.ctx, c.what, c.blob, wc)
	}
	// The original still works: nothing above changed it.
	if got, err := e.drv.Unwrap(e.ctx, blob, wc); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Unwrap(untampered blob) err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
}

// testEmptyPlaintext: a data key is never empty, so a driver refuses one
// before calling its KMS, and not retryably.
func testEmptyPlaintext(t *testing.T, e *env) {
	for _, pt := range [][]byte{nil, {}} {
		blob, err := e.drv.Wrap(e.ctx, pt, dekContext("tenant-a", 1))
		if err == nil {
			t.Errorf("Wrap(%#v) err = nil, want an error", pt)
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
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	blob := mustWrap(t, e, pt, wc)

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
		if _, err := e.drv.Wrap(c.ctx, pt, wc); !errors.Is(err, c.want) || kms.IsRetryable(err) {
			t.Errorf("Wrap(%s ctx) err = %v, retryable %v; want %v, not retryable", c.name, err, kms.IsRetryable(err), c.want)
		}
		got, err := e.drv.Unwrap(c.ctx, blob, wc)
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
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	ptIn := bytes.Clone(pt)
	blob := mustWrap(t, e, ptIn, wc)
	if !bytes.Equal(ptIn, pt) {
		t.Fatalf("Wrap modified its plaintext argument")
	}
	for i := range ptIn {
		ptIn[i] ^= 0xff
	}
	blobIn := bytes.Clone(blob)
	got, err := e.drv.Unwrap(e.ctx, blobIn, wc)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Unwrap after the caller reused Wrap's buffer: err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, pt))
	}
	if !bytes.Equal(blobIn, blob) {
		t.Fatalf("Unwrap modified its ciphertext argument")
	}
	for i := range got {
		got[i] ^= 0xff
	}
	got2, err := e.drv.Unwrap(e.ctx, blob, wc)
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
				pt, wc := randBytes(32), dekContext(fmt.Sprintf("tenant-%d", g), uint32(i))
				blob, err := e.drv.Wrap(e.ctx, pt, wc)
				if err != nil {
					t.Errorf("goroutine %d: Wrap err = %v, want nil", g, err)
					return
				}
				got, err := e.drv.Unwrap(e.ctx, blob, wc)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("goroutine %d: Unwrap err = %v, plaintext equal = %v; want nil, true", g, err, bytes.Equal(got, pt))
					return
				}
				next := wc
				next.Version++
				if _, err := e.drv.Unwrap(e.ctx, blob, next); !errors.Is(err, kms.ErrUnwrap) {
					t.Errorf("goroutine %d: Unwrap(next version) err = %v, want kms.ErrUnwrap", g, err)
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
	pt, wc := randBytes(32), dekContext("tenant-a", 1)
	blob := mustWrap(t, e, pt, wc)
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
	collect(e.drv.Wrap(cancelled, pt, wc))
	collect(e.drv.Unwrap(cancelled, blob, wc))
	collect(e.drv.Unwrap(e.ctx, blob, dekContext("tenant-b", 1)))
	collect(e.drv.Unwrap(e.ctx, flipped, wc))
	collect(other.Unwrap(e.ctx, blob, wc))
	// An oversized plaintext that begins with pt may be refused; if it is,
	// the refusal must not quote it.
	big := append(bytes.Clone(pt), randBytes(1<<20)...)
	if _, err := e.drv.Wrap(e.ctx, big, wc); err != nil {
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
