package localkms

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/kmstest"
)

// harness makes drivers for key k1 and, as the other key, k2 of one key
// set, either with New or by URL through kms.Open (a Keeper is a Driver).
type harness struct {
	ks  *keyset
	url func(id string) string // nil: use New
}

func (h *harness) make(ctx context.Context, id string) (kms.Driver, error) {
	if h.url == nil {
		return newDriver(h.ks, id)
	}
	return kms.Open(ctx, h.url(id))
}

func (h *harness) MakeDriver(ctx context.Context) (kms.Driver, error)      { return h.make(ctx, "k1") }
func (h *harness) MakeOtherDriver(ctx context.Context) (kms.Driver, error) { return h.make(ctx, "k2") }
func (h *harness) Close()                                                  {}

// testWC is the wrap context of the tests' data keys.
var testWC = kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}

func testKeyset(t *testing.T) *keyset {
	t.Helper()
	keys := map[string][]byte{"k1": make([]byte, 32), "k2": make([]byte, 32)}
	for _, k := range keys {
		rand.Read(k)
	}
	ks, err := newKeyset(keys)
	if err != nil {
		t.Fatalf("NewKeyset: %v", err)
	}
	return ks
}

func TestConformance(t *testing.T) {
	kmstest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (kmstest.Harness, error) {
		return &harness{ks: testKeyset(t)}, nil
	})
}

func TestConformanceKeyFileURL(t *testing.T) {
	kmstest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (kmstest.Harness, error) {
		path := filepath.Join(t.TempDir(), "keys")
		for _, id := range []string{"k1", "k2"} {
			if err := GenerateKeyFile(path, id); err != nil {
				return nil, err
			}
		}
		return &harness{url: func(id string) string { return "local://" + path + "?id=" + id }}, nil
	})
}
