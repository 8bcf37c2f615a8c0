package gcpkms

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	cloudkms "cloud.google.com/go/kms/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

func TestOpenURL(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	k, err := kms.Open(ctx, srv.KeyURI(keyName))
	if err != nil {
		t.Fatalf("kms.Open(%s) err = %v", srv.KeyURI(keyName), err)
	}
	defer k.Close()
	if got, want := k.URI(), "gcpkms://"+keyName; got != want {
		t.Errorf("Keeper.URI() = %q, want %q (no connection options)", got, want)
	}
	if got, err := kms.Name(srv.KeyURI(keyName) + "&skip_integrity_checks=true"); err != nil || got != k.URI() {
		t.Errorf("kms.Name(%s…) = %q, %v; want %q, the opened keeper's name", srv.KeyURI(keyName), got, err, k.URI())
	}
	blob, err := k.Wrap(ctx, dek, aad)
	if err != nil {
		t.Fatalf("Keeper.Wrap err = %v", err)
	}
	if got, err := k.Unwrap(ctx, blob, aad); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Keeper.Unwrap err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, dek))
	}
	if e, d := srv.Calls(); e != 1 || d != 1 {
		t.Errorf("server calls = %d encrypt, %d decrypt; want 1, 1", e, d)
	}
}

func TestOpenURLSkipIntegrityChecks(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	srv.SetFaults(insecurefakekms.Faults{OmitVerifiedPlaintextCRC32C: true, OmitCiphertextCRC32C: true})
	for _, tt := range []struct {
		query   string
		wantErr bool
	}{
		{"", true},
		{"&skip_integrity_checks=false", true},
		{"&skip_integrity_checks=true", false},
	} {
		k, err := kms.Open(ctx, srv.KeyURI(keyName)+tt.query)
		if err != nil {
			t.Fatalf("kms.Open(…%s) err = %v", tt.query, err)
		}
		_, err = k.Wrap(ctx, dek, aad)
		if got := err != nil; got != tt.wantErr || (err != nil && !errors.Is(err, ErrIntegrity)) {
			t.Errorf("Wrap via …%s err = %v, want error %v (ErrIntegrity)", tt.query, err, tt.wantErr)
		}
		k.Close()
	}
}

func TestOpenURLErrors(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"gcpkms://projects/p/locations/l/keyRings/r", "not a CryptoKey name"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", "not a CryptoKey name"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/", "not a CryptoKey name"},
		{"gcpkms://p/locations/l/keyRings/r/cryptoKeys/k", "want a URL of the form"},
		{"gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k", "want a URL of the form"},
		{"gcpkms://user@projects/p/locations/l/keyRings/r/cryptoKeys/k", "want a URL of the form"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k#x", "want a URL of the form"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpont=x", `unknown URL parameter "endpont"`},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?insecure=true", "needs WithEndpoint"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpoint=", "endpoint is empty"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpoint=a&endpoint=b", "given 2 times"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpoint=a&insecure=yes", "want true or false"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpoint=a&skip_integrity_checks=2", "want true or false"},
	}
	for _, tt := range tests {
		_, err := kms.Open(t.Context(), tt.url)
		if err == nil || !strings.HasPrefix(err.Error(), "kms: open gcpkms: gcpkms: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("kms.Open(%q) err = %v, want one mentioning %q", tt.url, err, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	ctx := t.Context()
	client, err := cloudkms.NewKeyManagementClient(ctx, option.WithEndpoint("127.0.0.1:1"), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tests := []struct {
		name string
		key  string
		opts []Option
		want string
	}{
		{"bad key name", "projects/p/keyRings/r/cryptoKeys/k", nil, "not a CryptoKey name"},
		{"insecure without endpoint", keyName, []Option{WithInsecure()}, "needs WithEndpoint"},
		{"client and endpoint", keyName, []Option{WithClient(client), WithEndpoint("x:1")}, "cannot be combined"},
		{"client and client options", keyName, []Option{WithClient(client), WithClientOptions(option.WithUserAgent("x"))}, "cannot be combined"},
	}
	for _, tt := range tests {
		d, err := newDriver(ctx, tt.key, tt.opts...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s) err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
		if d != nil {
			t.Errorf("New(%s) returned a driver with its error", tt.name)
		}
	}
}

// TestWithClient checks that a driver uses a client it is given and leaves
// closing it to the caller.
func TestWithClient(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	client, err := cloudkms.NewKeyManagementClient(ctx, option.WithEndpoint(srv.Endpoint()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for i := range 2 {
		d, err := newDriver(ctx, keyName, WithClient(client))
		if err != nil {
			t.Fatalf("New(WithClient) err = %v", err)
		}
		if _, err := d.Wrap(ctx, dek, aad); err != nil {
			t.Fatalf("driver %d over a shared client: Wrap err = %v, want nil (closing a driver must not close the client)", i, err)
		}
		if err := d.Close(); err != nil {
			t.Fatalf("Close err = %v", err)
		}
	}
	if d, _ := srv.Calls(); d != 2 {
		t.Errorf("EncryptCalls = %d, want 2", d)
	}
}

func TestDriverString(t *testing.T) {
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, keyName)
	if got, want := d.String(), "gcpkms("+keyName+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
