package awskms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/colcrypt/colcrypt/kms"
)

const (
	fakeKeyID  = "1234abcd-12ab-34cd-56ef-1234567890ab"
	fakeKeyARN = "arn:aws:kms:eu-west-1:111122223333:key/" + fakeKeyID
)

var (
	dek = []byte("0123456789abcdef0123456789abcdef")
	aad = kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}
)

// fakeKMS is a loopback HTTP server that answers AWS KMS's JSON protocol
// with whatever handle writes, so the real SDK parses real responses. It
// counts requests.
type fakeKMS struct {
	URL   string
	calls atomic.Int32
}

func newFakeKMS(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, target string)) *fakeKMS {
	t.Helper()
	f := &fakeKMS{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		io.Copy(io.Discard, r.Body)
		handle(w, r, strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService."))
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// driver makes a driver for key against the fake.
func (f *fakeKMS) driver(t *testing.T, key string, opts ...Option) *driver {
	t.Helper()
	opts = append([]Option{WithEndpoint(f.URL), WithConfig(testConfig("eu-west-1"))}, opts...)
	d, err := newDriver(t.Context(), key, opts...)
	if err != nil {
		t.Fatalf("New(%s) err = %v", key, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// writeOK answers Encrypt and Decrypt successfully for keyARN.
func writeOK(w http.ResponseWriter, target, keyARN string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target {
	case "Encrypt":
		io.WriteString(w, `{"CiphertextBlob":"AQIDBAUGBwgJCgsMDQ4PEA==","KeyId":"`+keyARN+`","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`)
	case "Decrypt":
		io.WriteString(w, `{"Plaintext":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","KeyId":"`+keyARN+`","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`)
	default:
		writeAWSError(w, http.StatusBadRequest, "UnknownOperationException", "")
	}
}

// TestErrorMapping has the fake answer each error and checks how Wrap and
// Unwrap classify it, and that each is one request: the SDK's retries are
// off.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		code      string // "" for an unmodeled answer: a plain-text body
		status    int
		retryable bool
		unwrapErr bool   // a Decrypt failure is kms.ErrUnwrap
		hint      string // in the message of a non-ErrUnwrap error
	}{
		{"ThrottlingException", 400, true, false, "retry"},
		{"LimitExceededException", 400, true, false, "retry"},
		{"KMSInternalException", 500, true, false, "retry"},
		{"KMSInternalException", 400, true, false, "retry"}, // by code, whatever the status
		{"DependencyTimeoutException", 503, true, false, "retry"},
		{"KeyUnavailableException", 500, true, false, "retry"},
		{"", 500, true, false, "retry"},
		{"", 502, true, false, "retry"},
		{"", 503, true, false, "retry"},
		{"", 429, true, false, "retry"},
		{"NotFoundException", 400, false, false, "check the key id"},
		{"AccessDeniedException", 400, false, false, "key policy"},
		{"DisabledException", 400, false, false, "disabled"},
		{"KMSInvalidStateException", 400, false, false, "pending deletion"},
		{"InvalidKeyUsageException", 400, false, false, "SYMMETRIC_DEFAULT"},
		{"UnrecognizedClientException", 403, false, false, "credentials"},
		{"ValidationException", 400, false, false, ""},
		{"InvalidCiphertextException", 400, false, true, ""},
		{"IncorrectKeyException", 400, false, true, ""},
	}
	for _, tt := range tests {
		name := tt.code
		if name == "" {
			name = "unmodeled"
		}
		t.Run(name+"/"+http.StatusText(tt.status), func(t *testing.T) {
			f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) {
				if tt.code == "" {
					w.WriteHeader(tt.status)
					io.WriteString(w, http.StatusText(tt.status))
					return
				}
				writeAWSError(w, tt.status, tt.code, "injected "+tt.code)
			})
			d := f.driver(t, fakeKeyID)
			check := func(op string, err error, wantUnwrap bool) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s with injected %s err = nil, want an error", op, name)
				}
				// InvalidCiphertextException on Decrypt is also what a key
				// wrapped with the old single-entry context gets: the driver
				// asks once more in that form, and no more.
				want := int32(1)
				if op == "unwrap" && tt.code == "InvalidCiphertextException" {
					want = 2
				}
				if n := f.calls.Swap(0); n != want {
					t.Errorf("%s with injected %s made %d requests, want %d (the SDK must not retry)", op, name, n, want)
				}
				if got := kms.IsRetryable(err); got != tt.retryable {
					t.Errorf("%s: IsRetryable(%v) = %v, want %v", op, err, got, tt.retryable)
				}
				if got := errors.Is(err, kms.ErrUnwrap); got != wantUnwrap {
					t.Errorf("%s: errors.Is(%v, ErrUnwrap) = %v, want %v", op, err, got, wantUnwrap)
				}
				if wantUnwrap {
					if err != kms.ErrUnwrap {
						t.Errorf("%s err = %v, want exactly kms.ErrUnwrap (opaque)", op, err)
					}
					return
				}
				var ae *apiError
				if !errors.As(err, &ae) || ae.Op != op || ae.KeyID != fakeKeyID || ae.HTTPStatus != tt.status {
					t.Fatalf("%s: errors.As(%v, *apiError) = %+v, want op %s, key %s, status %d", op, err, ae, op, fakeKeyID, tt.status)
				}
				if tt.code != "" {
					var api smithy.APIError
					if ae.Code != tt.code || ae.Message != "injected "+tt.code || ae.RequestID != "req-"+tt.code {
						t.Errorf("%s: *apiError = %+v, want code %s, message %q, request id %q", op, ae, tt.code, "injected "+tt.code, "req-"+tt.code)
					}
					if !errors.As(err, &api) || api.ErrorCode() != tt.code {
						t.Errorf("%s: errors.As(%v, smithy.APIError) code = %v, want %s", op, err, api, tt.code)
					}
				}
				if !strings.HasPrefix(err.Error(), "awskms: "+op+" with "+fakeKeyID+": ") || !strings.Contains(err.Error(), tt.hint) {
					t.Errorf("%s err = %q, want prefix %q and hint %q", op, err, "awskms: "+op+" with "+fakeKeyID, tt.hint)
				}
				// Through a Keeper, the classification survives the "kms:" prefix.
				kerr := fmt.Errorf("kms: %s: %w", op, err)
				if kms.IsRetryable(kerr) != tt.retryable {
					t.Errorf("%s: IsRetryable(wrapped %v) = %v, want %v", op, kerr, !tt.retryable, tt.retryable)
				}
			}
			blob, err := d.Wrap(t.Context(), dek, aad)
			if blob != nil {
				t.Errorf("Wrap returned %d bytes with its error", len(blob))
			}
			check("wrap", err, false)
			pt, err := d.Unwrap(t.Context(), []byte("some blob"), aad)
			if pt != nil {
				t.Errorf("Unwrap returned %d bytes with its error", len(pt))
			}
			check("unwrap", err, tt.unwrapErr)
		})
	}
}

// TestKeeperErrors checks that a Keeper keeps the classification.
func TestKeeperErrors(t *testing.T) {
	f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) {
		writeAWSError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	})
	k := kms.NewKeeper("awskms://"+fakeKeyID+"?region=eu-west-1", f.driver(t, fakeKeyID))
	_, err := k.Wrap(t.Context(), dek, aad)
	var ae *apiError
	if !kms.IsRetryable(err) || !errors.As(err, &ae) || !strings.HasPrefix(err.Error(), "kms: wrap: awskms: wrap") {
		t.Errorf("Keeper.Wrap with ThrottlingException err = %v, want retryable *apiError prefixed once", err)
	}
}

// TestLocalErrors drives local-kms into the errors it can produce.
func TestLocalErrors(t *testing.T) {
	ep := localEndpoint(t)
	admin := adminClient(t, ep)
	open := func(key string) *driver {
		d, err := newDriver(t.Context(), key, WithEndpoint(ep), WithConfig(testConfig("eu-west-2")))
		if err != nil {
			t.Fatalf("New(%s) err = %v", key, err)
		}
		return d
	}
	disabled, deleted := createKey(t, admin, nil), createKey(t, admin, nil)
	signing := createKey(t, admin, &kmssvc.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	var blobs = map[string][]byte{}
	for _, k := range []testKey{disabled, deleted} {
		b, err := open(k.ID).Wrap(t.Context(), dek, aad)
		if err != nil {
			t.Fatalf("Wrap with %s err = %v", k.ID, err)
		}
		blobs[k.ID] = b
	}
	if _, err := admin.DisableKey(t.Context(), &kmssvc.DisableKeyInput{KeyId: aws.String(disabled.ID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ScheduleKeyDeletion(t.Context(), &kmssvc.ScheduleKeyDeletionInput{KeyId: aws.String(deleted.ID), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	missing := "00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name, key string
		blob      []byte // for Unwrap; nil: Wrap only
		code      string
		hint      string
	}{
		{"missing key", missing, blobs[disabled.ID], "NotFoundException", "check the key id"},
		{"missing alias", "alias/colcrypt-no-such-alias", blobs[disabled.ID], "NotFoundException", "check the key id"},
		{"disabled key", disabled.ID, blobs[disabled.ID], "DisabledException", "disabled"},
		{"key pending deletion", deleted.ID, blobs[deleted.ID], "KMSInvalidStateException", "pending deletion"},
		// local-kms answers Decrypt with an ECC key with a 500 ("key
		// type not yet supported"), where AWS says InvalidKeyUsageException:
		// the fake server covers that answer.
		{"signing key", signing.ARN, nil, "InvalidKeyUsageException", "SYMMETRIC_DEFAULT"},
	}
	for _, tt := range tests {
		d := open(tt.key)
		errs := map[string]error{}
		_, errs["wrap"] = d.Wrap(t.Context(), dek, aad)
		if tt.blob != nil {
			_, errs["unwrap"] = d.Unwrap(t.Context(), tt.blob, aad)
		}
		for op, err := range errs {
			var ae *apiError
			switch {
			case !errors.As(err, &ae) || ae.Code != tt.code:
				t.Errorf("%s: %s err = %v, want *apiError with code %s", tt.name, op, err, tt.code)
			case kms.IsRetryable(err) || errors.Is(err, kms.ErrUnwrap):
				t.Errorf("%s: %s err = %v, want permanent, not ErrUnwrap", tt.name, op, err)
			case !strings.Contains(err.Error(), tt.hint):
				t.Errorf("%s: %s err = %q, want hint %q", tt.name, op, err, tt.hint)
			}
		}
	}
}

// TestConnectionRefused: nothing listens on the endpoint.
func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	d, err := newDriver(t.Context(), fakeKeyID, WithEndpoint(url), WithConfig(testConfig("eu-west-1")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Wrap(t.Context(), dek, aad)
	var ae *apiError
	if !kms.IsRetryable(err) || !errors.As(err, &ae) || ae.Code != "" || ae.HTTPStatus != 0 || !strings.Contains(err.Error(), "retry") {
		t.Errorf("Wrap to a closed port err = %v (%+v), want retryable *apiError without code or status", err, ae)
	}
}

// TestNetworkTimeout: the server never answers and the HTTP client's own
// timeout fires, which is retryable; the caller's context is still live.
func TestNetworkTimeout(t *testing.T) {
	f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) { <-r.Context().Done() })
	cfg := testConfig("eu-west-1")
	cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
	d := f.driver(t, fakeKeyID, WithConfig(cfg))
	_, err := d.Unwrap(t.Context(), []byte("blob"), aad)
	if !kms.IsRetryable(err) || errors.Is(err, kms.ErrUnwrap) || errors.Is(err, context.DeadlineExceeded) && t.Context().Err() != nil {
		t.Errorf("Unwrap with an HTTP client timeout err = %v, want retryable", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

// TestCancelInFlight cancels the caller's context while the request waits
// for an answer.
func TestCancelInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	d := f.driver(t, fakeKeyID)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := d.Wrap(ctx, dek, aad)
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || kms.IsRetryable(err) || !strings.HasPrefix(err.Error(), "awskms: wrap: ") {
		t.Errorf("Wrap cancelled in flight err = %v, want awskms-prefixed context.Canceled, not retryable", err)
	}
}

// TestResponseNamesAnotherKey: a response for another key than the one
// the driver asked for is refused, and its plaintext is not returned.
func TestResponseNamesAnotherKey(t *testing.T) {
	const otherARN = "arn:aws:kms:eu-west-1:111122223333:key/99999999-12ab-34cd-56ef-1234567890ab"
	f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) { writeOK(w, target, otherARN) })
	for _, key := range []string{fakeKeyID, fakeKeyARN} {
		d := f.driver(t, key)
		if blob, err := d.Wrap(t.Context(), dek, aad); err == nil || !strings.Contains(err.Error(), "names key") || blob != nil {
			t.Errorf("driver for %s: Wrap answered for %s: err = %v, want refused", key, otherARN, err)
		}
		if pt, err := d.Unwrap(t.Context(), []byte("blob"), aad); err == nil || !strings.Contains(err.Error(), "names key") || pt != nil {
			t.Errorf("driver for %s: Unwrap answered for %s: err = %v, want refused", key, otherARN, err)
		}
	}
	// An alias does not say which key it names: nothing to compare.
	d := f.driver(t, "alias/app")
	if _, err := d.Wrap(t.Context(), dek, aad); err != nil {
		t.Errorf("driver for an alias: Wrap err = %v, want nil", err)
	}
	// The same answer for the driver's own key passes.
	// Key ids are hex: an upper-case one names the same key.
	g := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) { writeOK(w, target, fakeKeyARN) })
	for _, key := range []string{fakeKeyID, fakeKeyARN, strings.ToUpper(fakeKeyID)} {
		d := g.driver(t, key)
		if _, err := d.Wrap(t.Context(), dek, aad); err != nil {
			t.Errorf("driver for %s: Wrap err = %v, want nil", key, err)
		}
		if pt, err := d.Unwrap(t.Context(), []byte("blob"), aad); err != nil || !bytes.Equal(pt, dek) {
			t.Errorf("driver for %s: Unwrap err = %v, plaintext equal %v; want nil, true", key, err, bytes.Equal(pt, dek))
		}
	}
}

// TestRefusedWithoutRequest: inputs KMS would refuse are refused locally.
func TestRefusedWithoutRequest(t *testing.T) {
	f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) { writeOK(w, target, fakeKeyARN) })
	d := f.driver(t, fakeKeyID)
	if _, err := d.Wrap(t.Context(), make([]byte, maxPlaintextSize+1), aad); err == nil || kms.IsRetryable(err) || !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("Wrap(4097 bytes) err = %v, want a permanent size error", err)
	}
	if _, err := d.Wrap(t.Context(), make([]byte, maxPlaintextSize), aad); err != nil {
		t.Errorf("Wrap(4096 bytes) err = %v, want nil", err)
	}
	f.calls.Store(0)
	for _, blob := range [][]byte{nil, {}, make([]byte, 6145)} {
		if _, err := d.Unwrap(t.Context(), blob, aad); err != kms.ErrUnwrap {
			t.Errorf("Unwrap(%d bytes) err = %v, want kms.ErrUnwrap", len(blob), err)
		}
	}
	d.Close()
	if _, err := d.Wrap(t.Context(), dek, aad); !errors.Is(err, errClosed) {
		t.Errorf("Wrap after Close err = %v, want ErrClosed", err)
	}
	if _, err := d.Unwrap(t.Context(), []byte("blob"), aad); !errors.Is(err, errClosed) {
		t.Errorf("Unwrap after Close err = %v, want ErrClosed", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}
