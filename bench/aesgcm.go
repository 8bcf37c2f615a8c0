package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
)

// newAESGCM is the physical floor: AES-256-GCM from the standard library
// with one ready AEAD per tenant, found by index (no lookup), a random
// 96-bit nonce per value drawn inside the AEAD (cipher.NewGCMWithRandomNonce,
// as colcrypt does), the tenant as associated data, and the output
// allocated per value. No key management, no format, no KMS.
func newAESGCM(_ context.Context, e *kmsEnv) (*contender, error) {
	aeads := make([]cipher.AEAD, len(e.tenants))
	for i := range aeads {
		key := make([]byte, 32)
		rand.Read(key)
		block, err := aes.NewCipher(key)
		clear(key)
		if err != nil {
			return nil, err
		}
		if aeads[i], err = cipher.NewGCMWithRandomNonce(block); err != nil {
			return nil, err
		}
	}
	aad := tenantBytes(e.tenants)
	return &contender{
		name:        nameAESGCM,
		label:       "raw AES-256-GCM (stdlib floor)",
		sampleEvery: 16,
		next: singlePhase(sealFunc(func(_ context.Context, tenant int, pt []byte) ([]byte, error) {
			return aeads[tenant].Seal(nil, nil, pt, aad[tenant]), nil
		})),
		open: func(_ context.Context, tenant int, ct []byte) ([]byte, error) {
			return aeads[tenant].Open(nil, nil, ct, aad[tenant])
		},
		close: func() {},
	}, nil
}
