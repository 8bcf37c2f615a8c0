package gcpkms

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// newDriver returns a driver for name on srv, closed by t.Cleanup.
func testDriver(t *testing.T, srv *insecurefakekms.Server, name string, opts ...Option) *driver {
	t.Helper()
	opts = append([]Option{WithEndpoint(srv.Endpoint()), WithInsecure()}, opts...)
	d, err := newDriver(t.Context(), name, opts...)
	if err != nil {
		t.Fatalf("newDriver(%s) err = %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var (
	dek = bytes.Repeat([]byte{0x5a}, 32)
	aad = kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}
)

// TestResponseIntegrityChecks breaks each integrity field of the fake's
// responses in turn and checks that the driver refuses the response with a
// retryable ErrIntegrity, and that the skip option accepts the ones an
// emulator might leave out.
func TestResponseIntegrityChecks(t *testing.T) {
	tests := []struct {
		name   string
		tamper insecurefakekms.Faults
		op     string // "wrap" or "unwrap"
		want   string // in the error message
	}{
		{"BadCiphertextCRC32C", insecurefakekms.Faults{BadCiphertextCRC32C: true}, "wrap", "ciphertext does not match ciphertext_crc32c"},
		{"CorruptCiphertext", insecurefakekms.Faults{CorruptCiphertext: true}, "wrap", "ciphertext does not match ciphertext_crc32c"},
		{"OmitCiphertextCRC32C", insecurefakekms.Faults{OmitCiphertextCRC32C: true}, "wrap", "no ciphertext_crc32c"},
		{"OmitVerifiedPlaintextCRC32C", insecurefakekms.Faults{OmitVerifiedPlaintextCRC32C: true}, "wrap", "verified_plaintext_crc32c is false"},
		{"OmitVerifiedAADCRC32C", insecurefakekms.Faults{OmitVerifiedAADCRC32C: true}, "wrap", "verified_additional_authenticated_data_crc32c is false"},
		{"WrongKeyName", insecurefakekms.Faults{WrongKeyName: true}, "wrap", "not a version of"},
		{"BadPlaintextCRC32C", insecurefakekms.Faults{BadPlaintextCRC32C: true}, "unwrap", "plaintext does not match plaintext_crc32c"},
		{"CorruptPlaintext", insecurefakekms.Faults{CorruptPlaintext: true}, "unwrap", "plaintext does not match plaintext_crc32c"},
		{"OmitPlaintextCRC32C", insecurefakekms.Faults{OmitPlaintextCRC32C: true}, "unwrap", "no plaintext_crc32c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			srv := insecurefakekms.Start(t, keyName)
			d := testDriver(t, srv, keyName)
			blob, err := d.Wrap(ctx, dek, aad)
			if err != nil {
				t.Fatalf("Wrap before tampering err = %v", err)
			}

			srv.SetFaults(tt.tamper)
			var got []byte
			if tt.op == "wrap" {
				got, err = d.Wrap(ctx, dek, aad)
			} else {
				got, err = d.Unwrap(ctx, blob, aad)
			}
			if !errors.Is(err, ErrIntegrity) {
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
			var ie *integrityError
			if !errors.As(err, &ie) || ie.Op != tt.op {
				t.Errorf("errors.As(%v, *IntegrityError) op = %v, want %q", err, ie, tt.op)
			}

			// With the checks skipped, the driver takes what it is sent,
			// corrupt or not: that is what the option trades away.
			skip := testDriver(t, srv, keyName, InsecureSkipResponseIntegrityChecks())
			if tt.op == "wrap" {
				_, err = skip.Wrap(ctx, dek, aad)
			} else {
				_, err = skip.Unwrap(ctx, blob, aad)
			}
			if err != nil {
				t.Errorf("%s with InsecureSkipResponseIntegrityChecks err = %v, want nil", tt.op, err)
			}

			srv.SetFaults(insecurefakekms.Faults{})
			if _, err := d.Wrap(ctx, dek, aad); err != nil {
				t.Errorf("Wrap after tampering stopped err = %v, want nil", err)
			}
		})
	}
}

// TestRequestChecksumsAreSent runs a round trip against a fake that
// rejects any request without its checksums, and one whose checksums are
// wrong (which it always rejects).
func TestRequestChecksumsAreSent(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, keyName)
	blob, err := d.Wrap(ctx, dek, aad)
	if err != nil {
		t.Fatalf("Wrap against a fake requiring checksums err = %v, want nil", err)
	}
	if got, err := d.Unwrap(ctx, blob, aad); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("Unwrap against a fake requiring checksums err = %v, plaintext equal = %v; want nil, true", err, bytes.Equal(got, dek))
	}
	if e, d := srv.Calls(); e+d != 2 {
		t.Errorf("server calls = %d, want 2", e+d)
	}
}

// TestTamperedBlobIsNotRetryable sends a blob with one bit flipped:
// the CRC32C is computed from the bytes sent, so the server sees a valid
// checksum and an invalid ciphertext, which is ErrUnwrap and not
// retryable.
func TestTamperedBlobIsNotRetryable(t *testing.T) {
	ctx := t.Context()
	srv := insecurefakekms.Start(t, keyName)
	d := testDriver(t, srv, keyName)
	blob, err := d.Wrap(ctx, dek, aad)
	if err != nil {
		t.Fatal(err)
	}
	blob[len(blob)-1] ^= 1
	_, err = d.Unwrap(ctx, blob, aad)
	if !errors.Is(err, kms.ErrUnwrap) || kms.IsRetryable(err) || errors.Is(err, ErrIntegrity) {
		t.Fatalf("Unwrap(tampered) err = %v, want ErrUnwrap, not retryable, not ErrIntegrity", err)
	}
}
