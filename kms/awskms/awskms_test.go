package awskms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/awskms"
	"github.com/colcrypt/colcrypt/kms/kmstest"
)

// harness makes drivers for two keys created on local-kms, reached through
// the real SDK over HTTP via the recording proxy.
type harness struct {
	open       func(ctx context.Context, key string) (kms.Driver, error)
	key, other string
}

func (h *harness) MakeDriver(ctx context.Context) (kms.Driver, error) { return h.open(ctx, h.key) }
func (h *harness) MakeOtherDriver(ctx context.Context) (kms.Driver, error) {
	return h.open(ctx, h.other)
}
func (h *harness) Close() {}

// TestConformance uses New with key ids.
func TestConformance(t *testing.T) {
	ep := localEndpoint(t)
	kmstest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (kmstest.Harness, error) {
		admin, p := adminClient(t, ep), newProxy(t, ep)
		a, b := createKey(t, admin, symmetric), createKey(t, admin, nil)
		return &harness{
			open: func(ctx context.Context, key string) (kms.Driver, error) {
				return awskms.New(ctx, key, awskms.WithEndpoint(p.URL), awskms.WithConfig(testConfig(a.Region)))
			},
			key: a.ID, other: b.ID,
		}, nil
	})
}

// TestConformanceURL uses kms.Open with the SDK's default credential chain,
// an alias URL for the first key and an ARN URL for the other.
func TestConformanceURL(t *testing.T) {
	ep := localEndpoint(t)
	useTestCredentials(t)
	kmstest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (kmstest.Harness, error) {
		admin, p := adminClient(t, ep), newProxy(t, ep)
		a, b := createKey(t, admin, nil), createKey(t, admin, nil)
		alias := createAlias(t, admin, a)
		return &harness{
			open: func(ctx context.Context, u string) (kms.Driver, error) {
				return kms.Open(ctx, u+"endpoint="+p.URL)
			},
			key:   "awskms://" + alias + "?region=" + a.Region + "&",
			other: "awskms:///" + b.ARN + "?",
		}, nil
	})
}

// TestRequests checks what the driver sends to local-kms, and that the
// documented encryption context is all another AWS client needs to
// decrypt a wrapped key.
func TestRequests(t *testing.T) {
	ep := localEndpoint(t)
	admin, p := adminClient(t, ep), newProxy(t, ep)
	key := createKey(t, admin, nil)
	d, err := awskms.New(t.Context(), key.ID, awskms.WithEndpoint(p.URL), awskms.WithConfig(testConfig(key.Region)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b64 := base64.StdEncoding.EncodeToString
	for _, a := range [][]byte{aad, nil} {
		before := len(p.Calls())
		blob, err := d.Wrap(t.Context(), dek, a)
		if err != nil {
			t.Fatalf("Wrap err = %v", err)
		}
		if _, err := d.Unwrap(t.Context(), blob, a); err != nil {
			t.Fatalf("Unwrap err = %v", err)
		}
		calls := p.Calls()[before:]
		if len(calls) != 2 || calls[0].Target != "TrentService.Encrypt" || calls[1].Target != "TrentService.Decrypt" {
			t.Fatalf("Wrap and Unwrap sent %+v, want one Encrypt and one Decrypt", calls)
		}
		wantCtx := map[string]any{awskms.AADContextKey: b64(a)}
		if len(a) == 0 {
			wantCtx = nil
		}
		for i, want := range []map[string]any{
			{"KeyId": key.ID, "Plaintext": b64(dek), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "EncryptionContext": wantCtx},
			{"KeyId": key.ID, "CiphertextBlob": b64(blob), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "EncryptionContext": wantCtx},
		} {
			if wantCtx == nil {
				delete(want, "EncryptionContext")
			}
			var got map[string]any
			if err := json.Unmarshal(calls[i].Body, &got); err != nil {
				t.Fatalf("%s body: %v", calls[i].Target, err)
			}
			if !jsonEqual(got, want) {
				t.Errorf("aad %q: %s body fields = %v, want %v", a, calls[i].Target, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
				if ctx, ok := got["EncryptionContext"]; ok {
					t.Errorf("aad %q: %s EncryptionContext = %v, want %v", a, calls[i].Target, ctx, wantCtx)
				}
			}
		}
		// Any AWS client that knows the encoding can unwrap.
		out, err := admin.Decrypt(t.Context(), &kmssvc.DecryptInput{
			KeyId:             aws.String(key.ARN),
			CiphertextBlob:    blob,
			EncryptionContext: map[string]string{awskms.AADContextKey: b64(a)},
		})
		if len(a) == 0 {
			// An empty aad is no context at all.
			out, err = admin.Decrypt(t.Context(), &kmssvc.DecryptInput{KeyId: aws.String(key.ARN), CiphertextBlob: blob})
		}
		if err != nil || !bytes.Equal(out.Plaintext, dek) {
			t.Errorf("aad %q: SDK Decrypt with the documented encryption context err = %v", a, err)
		}
	}
}

func jsonEqual(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestLocalKMSGaps shows, without the proxy, the two local-kms gaps the
// proxy closes (see proxy). When a local-kms upgrade closes one, this test
// fails: drop that part of the proxy.
func TestLocalKMSGaps(t *testing.T) {
	ep := localEndpoint(t)
	admin := adminClient(t, ep)
	key := createKey(t, admin, nil)
	d, err := awskms.New(t.Context(), key.ID, awskms.WithEndpoint(ep), awskms.WithConfig(testConfig(key.Region)))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := d.Wrap(t.Context(), dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	n := int(blob[0]) // local-kms: n ‖ key ARN (n bytes) ‖ version (4) ‖ nonce ‖ ciphertext ‖ tag
	if string(blob[1:1+n]) != key.ARN {
		t.Fatalf("local-kms blob does not start with its key ARN: the proxy's format assumption is wrong")
	}
	renamed := bytes.Clone(blob)
	renamed[1+n-1] ^= 1 // the last character of the key id in the ARN
	if got, err := d.Unwrap(t.Context(), renamed, aad); err != nil || !bytes.Equal(got, dek) {
		t.Errorf("local-kms Decrypt of a blob whose key ARN was changed err = %v; it used to ignore the ARN: remove the proxy's IncorrectKeyException rule", err)
	}
	short := bytes.Clone(blob[:1+n+4+5]) // 5 bytes where a 12-byte nonce belongs
	if _, err := d.Unwrap(t.Context(), short, aad); !kms.IsRetryable(err) || errors.Is(err, kms.ErrUnwrap) {
		t.Errorf("local-kms Decrypt of a blob shorter than a nonce err = %v; it used to crash (a dropped connection, retryable): remove the proxy's crash rule", err)
	}
}
