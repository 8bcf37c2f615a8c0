package kms_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/colcrypt/colcrypt/internal/kmserr"
	"github.com/colcrypt/colcrypt/kms"
)

// wc is the wrap context of the tests' data keys.
var wc = kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}

// fakeDriver returns err from every call (or echoes its input) and counts
// calls and closes.
type fakeDriver struct {
	err    error
	calls  atomic.Int64
	closes atomic.Int64
}

func (d *fakeDriver) Wrap(_ context.Context, pt []byte, _ kms.WrapContext) ([]byte, error) {
	d.calls.Add(1)
	if d.err != nil {
		return nil, d.err
	}
	return append([]byte("wrapped:"), pt...), nil
}

func (d *fakeDriver) Unwrap(_ context.Context, ct []byte, _ kms.WrapContext) ([]byte, error) {
	d.calls.Add(1)
	if d.err != nil {
		return nil, d.err
	}
	return []byte(strings.TrimPrefix(string(ct), "wrapped:")), nil
}

func (d *fakeDriver) Close() error {
	d.closes.Add(1)
	return nil
}

var errOpen = errors.New("no such key")

func init() {
	kms.Register("kmstestfake", func(_ context.Context, u *url.URL) (kms.Driver, string, error) {
		if u.Query().Get("fail") != "" {
			return nil, "", errOpen
		}
		return &fakeDriver{}, "kmstestfake://" + u.Host, nil
	}, func(u *url.URL) (string, error) {
		if u.Host == "" {
			return "", errors.New("no key")
		}
		return "kmstestfake://" + u.Host, nil
	})
}

// TestName: Name reduces a URL to its key's canonical name without opening
// it, and NewKeeper stores that name.
func TestName(t *testing.T) {
	for _, tt := range []struct {
		url, want string
		is        error
	}{
		{"kmstestfake://key1", "kmstestfake://key1", nil},
		{"kmstestfake://key1?endpoint=10.0.0.1:443&insecure=true", "kmstestfake://key1", nil},
		{"kmstestfake://key1?fail=1", "kmstestfake://key1", nil}, // not opened
		{"kmstestfake://", "", kms.ErrInvalidName},
		{"nosuchscheme://x", "", kms.ErrUnknownScheme},
		{"%zz://x", "", kms.ErrInvalidName},
	} {
		got, err := kms.Name(tt.url)
		if got != tt.want || (tt.is == nil) != (err == nil) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("Name(%q) = %q, %v; want %q, %v", tt.url, got, err, tt.want, tt.is)
		}
	}
	if got := kms.NewKeeper("kmstestfake://key1?endpoint=x", &fakeDriver{}).URI(); got != "kmstestfake://key1" {
		t.Errorf("NewKeeper(kmstestfake://key1?endpoint=x).URI() = %q, want the canonical name", got)
	}
	if got := kms.NewKeeper("unregistered://k?x=1", &fakeDriver{}).URI(); got != "unregistered://k?x=1" {
		t.Errorf("NewKeeper(unregistered://k?x=1).URI() = %q, want it unchanged", got)
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	k, err := kms.Open(ctx, "kmstestfake://key1?option=x")
	if err != nil {
		t.Fatalf("Open(kmstestfake://key1) err = %v", err)
	}
	defer k.Close()
	if got, want := k.URI(), "kmstestfake://key1"; got != want {
		t.Errorf("URI() = %q, want %q (the opener's canonical URI)", got, want)
	}
	if got, want := k.String(), "kms.Keeper(kmstestfake://key1)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	blob, err := k.Wrap(ctx, []byte("dek"), wc)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Unwrap(ctx, blob, wc); err != nil || string(got) != "dek" {
		t.Errorf("Unwrap(Wrap(dek)) = %q, %v; want dek, nil", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		url    string
		is     error
		prefix string
	}{
		{"nosuchscheme://x", kms.ErrUnknownScheme, `kms: unknown URL scheme "nosuchscheme" (registered: `},
		{"kmstestfake://x?fail=1", errOpen, "kms: open kmstestfake: no such key"},
		{"%zz://x", nil, "kms: open: invalid URL"},
	}
	for _, tt := range tests {
		k, err := kms.Open(t.Context(), tt.url)
		if err == nil || k != nil {
			t.Errorf("Open(%q) = %v, %v; want nil and an error", tt.url, k, err)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("Open(%q) err = %v, want errors.Is %v", tt.url, err, tt.is)
		}
		if !strings.HasPrefix(err.Error(), tt.prefix) || strings.Count(err.Error(), "kms:") != 1 {
			t.Errorf("Open(%q) err = %q, want prefix %q and one \"kms:\"", tt.url, err, tt.prefix)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("second Register(kmstestfake) did not panic")
		}
	}()
	kms.Register("kmstestfake", nil, nil)
}

// TestErrorsAreWrapped checks that the Keeper prefixes a driver's error
// once and keeps it reachable with errors.Is and errors.As.
func TestErrorsAreWrapped(t *testing.T) {
	boom := errors.New("fakedriver: boom")
	retry := kmserr.Retryable(errors.New("fakedriver: unavailable"))
	tests := []struct {
		name      string
		err       error
		wantWrap  string
		retryable bool
	}{
		{"plain", boom, "kms: wrap: fakedriver: boom", false},
		{"ErrUnwrap unchanged", kms.ErrUnwrap, "kms: unwrap failed", false},
		{"already prefixed", fmt.Errorf("kms: custom: %w", boom), "kms: custom: fakedriver: boom", false},
		{"retryable", retry, "kms: wrap: fakedriver: unavailable", true},
		{"wrapped retryable", fmt.Errorf("fakedriver: call: %w", retry), "kms: wrap: fakedriver: call: fakedriver: unavailable", true},
	}
	for _, tt := range tests {
		k := kms.NewKeeper("fake://k", &fakeDriver{err: tt.err})
		_, werr := k.Wrap(t.Context(), []byte("dek"), wc)
		_, uerr := k.Unwrap(t.Context(), []byte("blob"), wc)
		if werr == nil || werr.Error() != tt.wantWrap {
			t.Errorf("%s: Wrap err = %v, want %q", tt.name, werr, tt.wantWrap)
		}
		for op, err := range map[string]error{"Wrap": werr, "Unwrap": uerr} {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: %s err = %v, want errors.Is the driver's error", tt.name, op, err)
			}
			if n := strings.Count(err.Error(), "kms:"); n != 1 {
				t.Errorf("%s: %s err = %q has %d \"kms:\" prefixes, want 1", tt.name, op, err, n)
			}
			if got := kms.IsRetryable(err); got != tt.retryable {
				t.Errorf("%s: IsRetryable(%s err %v) = %v, want %v", tt.name, op, err, got, tt.retryable)
			}
		}
	}
}

func TestClosedKeeper(t *testing.T) {
	drv := &fakeDriver{}
	k := kms.NewKeeper("fake://k", drv)
	if err := k.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := k.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if n := drv.closes.Load(); n != 1 {
		t.Errorf("driver closed %d times, want 1", n)
	}
	if _, err := k.Wrap(t.Context(), []byte("dek"), wc); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Wrap after Close err = %v, want a closed keeper's error", err)
	}
	if _, err := k.Unwrap(t.Context(), []byte("blob"), wc); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Unwrap after Close err = %v, want a closed keeper's error", err)
	}
	if n := drv.calls.Load(); n != 0 {
		t.Errorf("driver called %d times after Close, want 0", n)
	}
}

// TestKeeperChecksBeforeDriver: a done context and an empty plaintext are
// refused without a driver call.
func TestKeeperChecksBeforeDriver(t *testing.T) {
	drv := &fakeDriver{}
	k := kms.NewKeeper("fake://k", drv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := k.Wrap(ctx, []byte("dek"), wc); !errors.Is(err, context.Canceled) || kms.IsRetryable(err) {
		t.Errorf("Wrap(cancelled) err = %v, want context.Canceled, not retryable", err)
	}
	if _, err := k.Unwrap(ctx, []byte("blob"), wc); !errors.Is(err, context.Canceled) {
		t.Errorf("Unwrap(cancelled) err = %v, want context.Canceled", err)
	}
	for _, pt := range [][]byte{nil, {}} {
		if _, err := k.Wrap(t.Context(), pt, wc); err == nil || kms.IsRetryable(err) {
			t.Errorf("Wrap(%#v) err = %v, want an error, not retryable", pt, err)
		}
	}
	if _, err := k.Wrap(t.Context(), []byte("dek"), kms.WrapContext{Tenant: "t"}); err == nil {
		t.Errorf("Wrap(context without a purpose) err = nil, want an error")
	}
	if n := drv.calls.Load(); n != 0 {
		t.Errorf("driver called %d times, want 0", n)
	}
}

type notRetryable struct{}

func (notRetryable) Error() string   { return "not retryable" }
func (notRetryable) Retryable() bool { return false }

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("x"), false},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{kms.ErrUnwrap, false},
		{notRetryable{}, false},
		{kmserr.Retryable(errors.New("x")), true},
		{fmt.Errorf("a: %w", kmserr.Retryable(errors.New("x"))), true},
		{errors.Join(errors.New("a"), kmserr.Retryable(errors.New("x"))), true},
	}
	for _, tt := range tests {
		if got := kms.IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
