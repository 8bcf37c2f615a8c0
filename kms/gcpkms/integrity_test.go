package gcpkms_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/gcpkms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// newDriver returns a driver for name on srv, closed by t.Cleanup.
func newDriver(t *testing.T, srv *insecurefakekms.Server, name string, opts ...gcpkms.Option) *gcpkms.Driver {
	t.Helper()
	opts = append([]gcpkms.Option{gcpkms.WithEndpoint(srv.Endpoint()), gcpkms.WithInsecure()}, opts...)
	d, err := gcpkms.New(t.Context(), name, opts...)
	if err != nil {
		t.Fatalf("gcpkms.New(%s) err = %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var (
	dek = bytes.Repeat([]byte{0x5a}, 32)
	aad = []byte("colcrypt/dek/v1 tenant-a 1")
)

// TestResponseIntegrityChecks breaks each integrity field of the fake's
// responses in turn and checks that the driver refuses the response with a
// retryable ErrIntegrity, and that the skip option accepts the ones an
// emulator might leave out.
func TestResponseIntegrityChecks(t *testing.T) {
	tests := []struct {
		name   string
		tamper insecurefakekms.Tampering
		op     string // "wrap" or "unwrap"
		want   string // in the error message
	}{
		{"BadCiphertextCRC32C", insecurefakekms.Tampering{BadCiphertextCRC32C: true}, "wrap", "ciphertext does not match ciphertext_crc32c"},
		{"CorruptCiphertext", insecurefakekms.Tampering{CorruptCiphertext: true}, "wrap", "ciphertext does not match ciphertext_crc32c"},
		{"OmitCiphertextCRC32C", insecurefakekms.Tampering{OmitCiphertextCRC32C: true}, "wrap", "no ciphertext_crc32c"},
		{"OmitVerifiedPlaintextCRC32C", insecurefakekms.Tampering{OmitVerifiedPlaintextCRC32C: true}, "wrap", "verified_plaintext_crc32c is false"},
		{"OmitVerifiedAADCRC32C", insecurefakekms.Tampering{OmitVerifiedAADCRC32C: true}, "wrap", "verified_additional_authenticated_data_crc32c is false"},
		{"WrongKeyName", insecurefakekms.Tampering{WrongKeyName: true}, "wrap", "not a version of"},
		{"BadPlaintextCRC32C", insecurefakekms.Tampering{BadPlaintextCRC32C: true}, "unwrap", "plaintext does not match plaintext_crc32c"},
		{"CorruptPlaintext", insecurefakekms.Tampering{CorruptPlaintext: true}, "unwrap", "plaintext does not match plaintext_crc32c"},
		{"OmitPlaintextCRC32C", insecurefakekms.Tampering{OmitPlaintextCRC32C: true}, "unwrap", "no plaintext_crc32c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			srv := insecurefakekms.Start(t, keyName)
			d := newDriver(t, srv, keyName)
			blob, err := d.Wrap(ctx, dek, aad)
			if err != nil {
				t.Fatalf("Wrap before tampering err = %v", err)
			}

			srv.SetResponseTampering(tt.tamper)
			var got []byte
			if tt.op == "wrap" {
				got, err = d.Wrap(ctx, dek, aad)
			} else {
				got, err = d.Unwrap(ctx, blob, aad)
			}
			if !errors.Is(err, gcpkms.ErrIntegrity) {
				t.Fatalf("%s with %s err = %v, want ErrIntegrity", tt.op, tt.name, err)
			}
			if !kms.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = false, want true", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s err = %q, want it to mention %q", tt.op, err, tt.want)
			}
			if got != nil {
				t.Errorf("%s returned %d bytes with an integrity error, want nil", tt.op, len(got))
			}
			var ie *gcpkms.IntegrityError
			if !errors.As(err, &ie) || ie.Op != tt.op {
				t.Errorf("errors.As(%v, *IntegrityError) op = %v, want %q", err, ie, tt.op)
			}

			// With the checks skipped, the driver takes what it is sent,
			// corrupt or not: that is what the option trades away.
			skip := newDriver(t, srv, keyName, gcpkms.InsecureSkipResponseIntegrityChecks())
			if tt.op == "wrap" {
				_, err = skip.Wrap(ctx, dek, aad)
			} else {
				_, err = skip.Unwrap(ctx, blob, aad)
			}
			if err != nil {
				t.Errorf("%s with InsecureSkipResponseIntegrityChecks err = %v, want nil", tt.op, err)
			}

			srv.SetResponseTampering(insecurefakekms.Tampering{})
			if _, err := d.Wrap(ctx, dek, aad); err != nil {
				t.Errorf("Wrap after tampering stopped err = %v, want nil", err)
			}
		})
	}
}

// TestNoAADNoAADChecksum checks that with empty aad the driver does not
// insist on a verified aad checksum it did not send.
func TestNoAADNoAADChecksum(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	srv.SetRequireChecksums(true)
	srv.SetResponseTampering(insecurefakekms.Tampering{OmitVerifiedAADCRC32C: true})
	d := newDriver(t, srv, keyName)
	blob, err := d.Wrap(ctx, dek, nil)
	if err != nil {
		t.Fatalf("Wrap(dek, nil aad) err = %v, want nil", err)
	}
	if got, err := d.Unwrap(ctx, blob, nil); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, dek))
	}
}

// TestRequestChecksumsAreSent runs a round trip against a fake that
// rejects any request without its checksums, and one whose checksums are
// wrong (which it always rejects).
func TestRequestChecksumsAreSent(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	srv.SetRequireChecksums(true)
	d := newDriver(t, srv, keyName)
	blob, err := d.Wrap(ctx, dek, aad)
	if err != nil {
		t.Fatalf("Wrap against a fake requiring checksums err = %v, want nil", err)
	}
	if got, err := d.Unwrap(ctx, blob, aad); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap against a fake requiring checksums err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, dek))
	}
	if n := srv.EncryptCalls() + srv.DecryptCalls(); n != 2 {
		t.Errorf("server calls = %d, want 2", n)
	}
}

// TestTamperedBlobIsNotRetryable sends a blob with one bit flipped:
// the CRC32C is computed from the bytes sent, so the server sees a valid
// checksum and an invalid ciphertext, which is ErrUnwrap and not
// retryable.
func TestTamperedBlobIsNotRetryable(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	d := newDriver(t, srv, keyName)
	blob, err := d.Wrap(ctx, dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	blob[len(blob)-1] ^= 1
	_, err = d.Unwrap(ctx, blob, aad)
	if !errors.Is(err, kms.ErrUnwrap) || kms.IsRetryable(err) || errors.Is(err, gcpkms.ErrIntegrity) {
		t.Fatalf("Unwrap(tampered) err = %v, want ErrUnwrap, not retryable, not ErrIntegrity", err)
	}
}
