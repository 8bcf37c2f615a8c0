package insecurefakekms

import "cloud.google.com/go/kms/apiv1/kmspb"

// tamperEncrypt breaks resp as the Faults' Encrypt tampering says.
func (s *service) tamperEncrypt(resp *kmspb.EncryptResponse) {
	t := s.currentFaults()
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

// tamperDecrypt breaks resp as the Faults' Decrypt tampering says.
func (s *service) tamperDecrypt(resp *kmspb.DecryptResponse) {
	t := s.currentFaults()
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
