package main

import (
	"context"

	cloudkms "cloud.google.com/go/kms/apiv1"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/gcpkms"
)

// newGocloud is gocloud.dev/secrets over Cloud KMS: every value is sent to
// the KMS in one Encrypt call. One Keeper per tenant, each binding its
// tenant as the additional authenticated data, all sharing one client.
func newGocloud(ctx context.Context, e *kmsEnv) (*contender, error) {
	client, err := cloudkms.NewKeyManagementClient(ctx, e.clientOptions()...)
	if err != nil {
		return nil, err
	}
	keepers := make([]*secrets.Keeper, len(e.tenants))
	for i, t := range e.tenants {
		keepers[i] = gcpkms.OpenKeeper(client, keyName, &gcpkms.KeeperOptions{AdditionalAuthenticatedData: []byte(t)})
	}
	return &contender{
		name:        nameGocloud,
		label:       "gocloud.dev/secrets (Cloud KMS)",
		sampleEvery: 1,
		next: singlePhase(sealFunc(func(ctx context.Context, tenant int, pt []byte) ([]byte, error) {
			return keepers[tenant].Encrypt(ctx, pt)
		})),
		open: func(ctx context.Context, tenant int, ct []byte) ([]byte, error) {
			return keepers[tenant].Decrypt(ctx, ct)
		},
		close: func() {
			for _, k := range keepers {
				k.Close()
			}
			client.Close()
		},
	}, nil
}
