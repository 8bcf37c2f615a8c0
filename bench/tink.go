package main

import (
	"context"

	"github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/aead"
)

// newTink is Google Tink's KMS envelope AEAD over its Cloud KMS
// integration (gRPC transport): every Encrypt generates a fresh AES-256-GCM
// data key, wraps it with one Cloud KMS Encrypt call, and seals the value
// under it. The tenant goes into the associated data, as a per-tenant
// binding would.
func newTink(ctx context.Context, e *kmsEnv) (*contender, error) {
	client, err := gcpkms.NewClient(ctx, "gcp-kms://", gcpkms.WithGoogleAPIClientOptions(e.clientOptions()...))
	if err != nil {
		return nil, err
	}
	kek, err := client.GetAEAD("gcp-kms://" + keyName)
	if err != nil {
		client.Close()
		return nil, err
	}
	env := aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), kek)
	aad := tenantBytes(e.tenants)
	return &contender{
		name:        nameTink,
		label:       "Tink KMS envelope AEAD",
		sampleEvery: 1,
		next: singlePhase(sealFunc(func(_ context.Context, tenant int, pt []byte) ([]byte, error) {
			return env.Encrypt(pt, aad[tenant])
		})),
		open: func(_ context.Context, tenant int, ct []byte) ([]byte, error) {
			return env.Decrypt(ct, aad[tenant])
		},
		close: func() { client.Close() },
	}, nil
}

func tenantBytes(tenants []string) [][]byte {
	out := make([][]byte, len(tenants))
	for i, t := range tenants {
		out[i] = []byte(t)
	}
	return out
}
