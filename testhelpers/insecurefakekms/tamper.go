package insecurefakekms

import "cloud.google.com/go/kms/apiv1/kmspb"

// Tampering breaks the integrity fields of later responses, to show that a
// client checks them as Google's data-integrity guidelines ask
// (https://cloud.google.com/kms/docs/data-integrity-guidelines). The zero
// value tampers with nothing.
type Tampering struct {
	// Encrypt responses.

	// BadCiphertextCRC32C returns a ciphertext_crc32c that does not match
	// the ciphertext.
	BadCiphertextCRC32C bool
	// OmitCiphertextCRC32C leaves ciphertext_crc32c unset.
	OmitCiphertextCRC32C bool
	// CorruptCiphertext flips a bit of the ciphertext after its checksum is
	// computed, as corruption in transit would.
	CorruptCiphertext bool
	// OmitVerifiedPlaintextCRC32C reports verified_plaintext_crc32c false,
	// as a server that ignored the request checksum would.
	OmitVerifiedPlaintextCRC32C bool
	// OmitVerifiedAADCRC32C reports
	// verified_additional_authenticated_data_crc32c false.
	OmitVerifiedAADCRC32C bool
	// WrongKeyName names a version of another CryptoKey whose name has the
	// requested one as a prefix ("…/cryptoKeys/k-other/cryptoKeyVersions/1"),
	// which a naive prefix check would accept.
	WrongKeyName bool

	// Decrypt responses.

	// BadPlaintextCRC32C returns a plaintext_crc32c that does not match the
	// plaintext.
	BadPlaintextCRC32C bool
	// OmitPlaintextCRC32C leaves plaintext_crc32c unset.
	OmitPlaintextCRC32C bool
	// CorruptPlaintext flips a bit of the plaintext after its checksum is
	// computed.
	CorruptPlaintext bool
}

// SetResponseTampering sets how later responses are broken; the zero
// Tampering restores honest responses.
func (s *Server) SetResponseTampering(t Tampering) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = t
}

func (s *Server) tampering() Tampering {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tamper
}

func (s *Server) tamperEncrypt(resp *kmspb.EncryptResponse) {
	t := s.tampering()
	if t.BadCiphertextCRC32C {
		resp.CiphertextCrc32C.Value ^= 1
	}
	if t.OmitCiphertextCRC32C {
		resp.CiphertextCrc32C = nil
	}
	if t.CorruptCiphertext {
		resp.Ciphertext[len(resp.Ciphertext)/2] ^= 0x10
	}
	if t.OmitVerifiedPlaintextCRC32C {
		resp.VerifiedPlaintextCrc32C = false
	}
	if t.OmitVerifiedAADCRC32C {
		resp.VerifiedAdditionalAuthenticatedDataCrc32C = false
	}
	if t.WrongKeyName {
		key := resp.Name[:len(resp.Name)-len("/cryptoKeyVersions/1")]
		resp.Name = key + "-other/cryptoKeyVersions/1"
	}
}

func (s *Server) tamperDecrypt(resp *kmspb.DecryptResponse) {
	t := s.tampering()
	if t.BadPlaintextCRC32C {
		resp.PlaintextCrc32C.Value ^= 1
	}
	if t.OmitPlaintextCRC32C {
		resp.PlaintextCrc32C = nil
	}
	if t.CorruptPlaintext {
		resp.Plaintext[len(resp.Plaintext)/2] ^= 0x10
	}
}
