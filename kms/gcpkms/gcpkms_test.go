package gcpkms

import (
	"context"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/kmstest"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

const (
	keyName   = "projects/p/locations/global/keyRings/r/cryptoKeys/k"
	otherName = "projects/p/locations/global/keyRings/r/cryptoKeys/other"
)

// harness drives the real Cloud KMS client over real gRPC to the fake
// server, which requires every request checksum.
type harness struct{ srv *insecurefakekms.Server }

func (h *harness) driver(ctx context.Context, name string) (kms.Driver, error) {
	return newDriver(ctx, name, WithEndpoint(h.srv.Endpoint()), WithInsecure())
}

func (h *harness) MakeDriver(ctx context.Context) (kms.Driver, error) { return h.driver(ctx, keyName) }
func (h *harness) MakeOtherDriver(ctx context.Context) (kms.Driver, error) {
	return h.driver(ctx, otherName)
}
func (h *harness) Close() {}

func TestConformance(t *testing.T) {
	kmstest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (kmstest.Harness, error) {
		srv := insecurefakekms.Start(t, keyName, otherName)
		return &harness{srv: srv}, nil
	})
}
