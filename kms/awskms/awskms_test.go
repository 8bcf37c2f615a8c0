package awskms

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
				return newDriver(ctx, key, WithEndpoint(p.URL), WithConfig(testConfig(a.Region)))
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

// TestRequests checks what the driver sends to local-kms: the wrap
// context as readable entries (purpose, tenant, key version) that IAM
// conditions and CloudTrail can use, and that those entries are all
// another AWS client needs to decrypt a wrapped key.
func TestRequests(t *testing.T) {
	ep := localEndpoint(t)
	admin, p := adminClient(t, ep), newProxy(t, ep)
	key := createKey(t, admin, nil)
	d, err := newDriver(t.Context(), key.ID, WithEndpoint(p.URL), WithConfig(testConfig(key.Region)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b64 := base64.StdEncoding.EncodeToString
	for _, tt := range []struct {
		wc   kms.WrapContext
		want map[string]string
	}{
		{aad, map[string]string{"colcrypt-purpose": "colcrypt/dek/v1", "colcrypt-tenant": "tenant-a", "colcrypt-key-version": "1"}},
		{kms.WrapContext{Purpose: "colcrypt/doctor/v1"}, map[string]string{"colcrypt-purpose": "colcrypt/doctor/v1", "colcrypt-key-version": "0"}},
		{kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "Zürich ü", Version: 1<<32 - 1}, map[string]string{"colcrypt-purpose": "colcrypt/dek/v1", "colcrypt-tenant": "Zürich ü", "colcrypt-key-version": "4294967295"}},
	} {
		before := len(p.Calls())
		blob, err := d.Wrap(t.Context(), dek, tt.wc)
		if err != nil {
			t.Fatalf("Wrap(%+v) err = %v", tt.wc, err)
		}
		if _, err := d.Unwrap(t.Context(), blob, tt.wc); err != nil {
			t.Fatalf("Unwrap(%+v) err = %v", tt.wc, err)
		}
		calls := p.Calls()[before:]
		if len(calls) != 2 || calls[0].Target != "TrentService.Encrypt" || calls[1].Target != "TrentService.Decrypt" {
			t.Fatalf("Wrap and Unwrap sent %+v, want one Encrypt and one Decrypt", calls)
		}
		for i, want := range []map[string]any{
			{"KeyId": key.ID, "Plaintext": b64(dek), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "EncryptionContext": tt.want},
			{"KeyId": key.ID, "CiphertextBlob": b64(blob), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "EncryptionContext": tt.want},
		} {
			var got map[string]any
			if err := json.Unmarshal(calls[i].Body, &got); err != nil {
				t.Fatalf("%s body: %v", calls[i].Target, err)
			}
			if !jsonEqual(got, want) {
				t.Errorf("%+v: %s body fields = %v, want %v", tt.wc, calls[i].Target, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
				if ctx, ok := got["EncryptionContext"]; ok {
					t.Errorf("%+v: %s EncryptionContext = %v, want %v", tt.wc, calls[i].Target, ctx, tt.want)
				}
			}
		}
		// Any AWS client that knows the entries can unwrap.
		out, err := admin.Decrypt(t.Context(), &kmssvc.DecryptInput{
			KeyId:             aws.String(key.ARN),
			CiphertextBlob:    blob,
			EncryptionContext: tt.want,
		})
		if err != nil || !bytes.Equal(out.Plaintext, dek) {
			t.Errorf("%+v: SDK Decrypt with the documented encryption context err = %v", tt.wc, err)
		}
	}
}

// TestLegacyContext: a key wrapped the way earlier releases wrapped it,
// with the whole context as one base64 entry, still unwraps with the
// driver (one Decrypt with the entries, refused, then one with the old
// form), but only for its own tenant and version.
func TestLegacyContext(t *testing.T) {
	ep := localEndpoint(t)
	admin, p := adminClient(t, ep), newProxy(t, ep)
	key := createKey(t, admin, nil)
	d, err := newDriver(t.Context(), key.ID, WithEndpoint(p.URL), WithConfig(testConfig(key.Region)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// What the previous driver sent: {"colcrypt-aad": base64(lp(purpose) ‖
	// lp(tenant) ‖ lp(version))}, spelled out here rather than taken from
	// the driver, so a change to either side shows.
	oldAAD := []byte("\x0fcolcrypt/dek/v1\x08tenant-a\x011")
	if !bytes.Equal(oldAAD, aad.AAD()) {
		t.Fatalf("WrapContext.AAD() = %q, want the encoding earlier releases bound, %q", aad.AAD(), oldAAD)
	}
	enc, err := admin.Encrypt(t.Context(), &kmssvc.EncryptInput{
		KeyId:             aws.String(key.ID),
		Plaintext:         dek,
		EncryptionContext: map[string]string{"colcrypt-aad": base64.StdEncoding.EncodeToString(oldAAD)},
	})
	if err != nil {
		t.Fatalf("SDK Encrypt with the old context err = %v", err)
	}
	before := len(p.Calls())
	got, err := d.Unwrap(t.Context(), enc.CiphertextBlob, aad)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap(key wrapped with the old context) = %x, %v; want the key, nil", got, err)
	}
	if n := len(p.Calls()) - before; n != 2 {
		t.Errorf("Unwrap of an old key sent %d requests, want 2 (the entries, then the old form)", n)
	}
	for _, wrong := range []kms.WrapContext{
		{Purpose: "colcrypt/dek/v1", Tenant: "tenant-b", Version: 1},
		{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 2},
	} {
		if _, err := d.Unwrap(t.Context(), enc.CiphertextBlob, wrong); !errors.Is(err, kms.ErrUnwrap) {
			t.Errorf("Unwrap(old key, %+v) err = %v, want kms.ErrUnwrap", wrong, err)
		}
	}
	// A key wrapped by this driver is not accepted under the old form
	// alone: the forms are distinct contexts.
	blob, err := d.Wrap(t.Context(), dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Decrypt(t.Context(), &kmssvc.DecryptInput{
		KeyId:             aws.String(key.ID),
		CiphertextBlob:    blob,
		EncryptionContext: map[string]string{"colcrypt-aad": base64.StdEncoding.EncodeToString(oldAAD)},
	}); err == nil {
		t.Errorf("SDK Decrypt of a new key with the old context succeeded, want InvalidCiphertextException")
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
	d, err := newDriver(t.Context(), key.ID, WithEndpoint(ep), WithConfig(testConfig(key.Region)))
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
