package gcpkms

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestErrorCodes injects each gRPC code into Encrypt and Decrypt and
// checks how the driver classifies it.
func TestErrorCodes(t *testing.T) {
	tests := []struct {
		code      codes.Code
		retryable bool
		unwrapErr bool   // Decrypt failure is ErrUnwrap
		hint      string // in the message of a permanent error
	}{
		{codes.Unavailable, true, false, "retry"},
		{codes.ResourceExhausted, true, false, "retry"},
		{codes.DeadlineExceeded, true, false, "retry"},
		{codes.Aborted, true, false, "retry"},
		{codes.Internal, true, false, "retry"},
		{codes.NotFound, false, false, "check the key name"},
		{codes.PermissionDenied, false, false, "roles/cloudkms.cryptoKeyEncrypterDecrypter"},
		{codes.Unauthenticated, false, false, "credentials"},
		{codes.FailedPrecondition, false, false, "enabled"},
		{codes.InvalidArgument, false, true, "ENCRYPT_DECRYPT"},
		{codes.Unknown, false, false, ""},
		{codes.Unimplemented, false, false, ""},
	}
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, keyName)
	blob, err := d.Wrap(ctx, dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			check := func(op string, err error, wantUnwrap bool) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s with injected %s err = nil, want an error", op, tt.code)
				}
				if got := kms.IsRetryable(err); got != tt.retryable {
					t.Errorf("%s: IsRetryable(%v) = %v, want %v", op, err, got, tt.retryable)
				}
				if got := errors.Is(err, kms.ErrUnwrap); got != wantUnwrap {
					t.Errorf("%s: errors.Is(%v, ErrUnwrap) = %v, want %v", op, err, got, wantUnwrap)
				}
				if wantUnwrap {
					return
				}
				if got := status.Code(err); got != tt.code {
					t.Errorf("%s: status.Code(%v) = %s, want %s", op, err, got, tt.code)
				}
				var ge *rpcFailure
				if !errors.As(err, &ge) || ge.Code != tt.code || ge.Op != op || ge.KeyName != keyName {
					t.Errorf("%s: errors.As(%v, *rpcFailure) = %+v, want code %s, op %s, key %s", op, err, ge, tt.code, op, keyName)
				}
				if !strings.HasPrefix(err.Error(), "gcpkms: "+op) || !strings.Contains(err.Error(), tt.hint) {
					t.Errorf("%s err = %q, want prefix %q and hint %q", op, err, "gcpkms: "+op, tt.hint)
				}
			}
			e0, d0 := srv.Calls()
			srv.SetFaults(insecurefakekms.Faults{FailNext: 1, FailNextCode: tt.code})
			_, err := d.Wrap(ctx, dek, aad)
			check("wrap", err, false)
			srv.SetFaults(insecurefakekms.Faults{FailNext: 1, FailNextCode: tt.code})
			_, err = d.Unwrap(ctx, blob, aad)
			check("unwrap", err, tt.unwrapErr)
			// One RPC per call: the client library's retries are off, so
			// the caller's backoff is the only one.
			if e, dc := srv.Calls(); e-e0 != 1 || dc-d0 != 1 {
				t.Errorf("server calls = %d encrypt, %d decrypt; want 1, 1", e, dc)
			}
			if _, err := d.Unwrap(ctx, blob, aad); err != nil {
				t.Errorf("Unwrap after the fault err = %v, want nil", err)
			}
		})
	}
}

// TestUnknownKeyIsNotFound uses a key the server does not have.
func TestUnknownKeyIsNotFound(t *testing.T) {
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, otherName)
	_, err := d.Wrap(t.Context(), dek, aad)
	if status.Code(err) != codes.NotFound || kms.IsRetryable(err) || !strings.Contains(err.Error(), otherName) {
		t.Fatalf("Wrap(unknown key) err = %v, want NotFound naming the key, not retryable", err)
	}
}

// TestDeadlineFailsFast gives the server a latency far beyond the caller's
// deadline: the call must end with the caller's deadline, not retryable.
// The watchdog only guards against a hang; it measures nothing.
func TestDeadlineFailsFast(t *testing.T) {
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, keyName)
	blob, err := d.Wrap(t.Context(), dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFaults(insecurefakekms.Faults{Latency: time.Hour})
	for _, op := range []string{"wrap", "unwrap"} {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			var err error
			if op == "wrap" {
				_, err = d.Wrap(ctx, dek, aad)
			} else {
				_, err = d.Unwrap(ctx, blob, aad)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) || kms.IsRetryable(err) {
				t.Errorf("%s past the deadline err = %v, want context.DeadlineExceeded, not retryable", op, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s with an expired deadline did not return", op)
		}
		cancel()
	}
}

// TestCancelInFlight cancels the caller's context while the server is
// still working.
func TestCancelInFlight(t *testing.T) {
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, keyName)
	srv.SetFaults(insecurefakekms.Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := d.Wrap(ctx, dek, aad)
		done <- err
	}()
	// Cancel once the request has reached the server.
	for e, _ := srv.Calls(); e == 0; e, _ = srv.Calls() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || kms.IsRetryable(err) {
			t.Errorf("Wrap cancelled in flight err = %v, want context.Canceled, not retryable", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Wrap cancelled in flight did not return")
	}
}

// TestRequestCorruptedInTransit flips a plaintext bit between the driver
// and the wire, after the driver computed its checksum: the service's
// checksum mismatch must come back as a retryable ErrIntegrity.
func TestRequestCorruptedInTransit(t *testing.T) {
	corrupt := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		switch r := req.(type) {
		case *kmspb.EncryptRequest:
			r = proto.Clone(r).(*kmspb.EncryptRequest)
			r.Plaintext[0] ^= 1
			req = r
		case *kmspb.DecryptRequest:
			r = proto.Clone(r).(*kmspb.DecryptRequest)
			r.AdditionalAuthenticatedData[0] ^= 1
			req = r
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	srv := insecurefakekms.Start(t, keyName)
	good := testDriver(t, srv, keyName)
	blob, err := good.Wrap(t.Context(), dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	d := testDriver(t, srv, keyName, WithClientOptions(option.WithGRPCDialOption(grpc.WithUnaryInterceptor(corrupt))))
	_, werr := d.Wrap(t.Context(), dek, aad)
	_, uerr := d.Unwrap(t.Context(), blob, aad)
	for op, err := range map[string]error{"wrap": werr, "unwrap": uerr} {
		if !errors.Is(err, ErrIntegrity) || !kms.IsRetryable(err) || errors.Is(err, kms.ErrUnwrap) {
			t.Errorf("%s with a request corrupted in transit err = %v, want retryable ErrIntegrity", op, err)
		}
	}
}
