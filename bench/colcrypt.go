package main

import (
	"context"
	"fmt"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
)

// colcrypt seals with field.Encryptor.Seal, the call every integration
// (gormplugin, sqltypes, migrate) makes per value: the tenant's active key
// from the keystore cache, then AES-256-GCM under the column's subkey.
// The KMS is called only on a cache miss.

// benchTable and benchColumn are the Scope the values belong to.
const (
	benchTable  = "bench"
	benchColumn = "value"
)

func scopes(tenants []string) []field.Scope {
	out := make([]field.Scope, len(tenants))
	for i, t := range tenants {
		out[i] = field.Scope{Tenant: t, Table: benchTable, Column: benchColumn}
	}
	return out
}

func encryptorSealer(enc *field.Encryptor, sc []field.Scope) sealer {
	return sealFunc(func(ctx context.Context, tenant int, pt []byte) ([]byte, error) {
		return enc.Seal(ctx, sc[tenant], pt)
	})
}

func encryptorOpener(enc *field.Encryptor, sc []field.Scope) func(context.Context, int, []byte) ([]byte, error) {
	return func(ctx context.Context, tenant int, ct []byte) ([]byte, error) {
		return enc.Open(ctx, sc[tenant], ct)
	}
}

// newColcryptWarm is one long-lived Store whose cache holds every tenant's
// key before the first round: the steady state of a running service. The
// cache TTL is the default, so a run longer than it shows the refreshes.
func newColcryptWarm(ctx context.Context, e *kmsEnv) (*contender, error) {
	store, err := keystore.New(e.keyDB, e.kek)
	if err != nil {
		return nil, err
	}
	enc := field.NewEncryptor(store)
	sc := scopes(e.tenants)
	for _, s := range sc {
		// Seal, not just Active, so the column's subkey is derived too.
		if _, err := enc.Seal(ctx, s, []byte("warm-up")); err != nil {
			store.Close()
			return nil, fmt.Errorf("warming %s: %w", s.Tenant, err)
		}
	}
	return &contender{
		name:        nameColcryptWarm,
		label:       "colcrypt (warm cache)",
		sampleEvery: 16,
		next:        singlePhase(encryptorSealer(enc, sc)),
		open:        encryptorOpener(enc, sc),
		close:       store.Close,
	}, nil
}

// newColcryptCold measures the first use of each tenant: every phase is a
// fresh Store (a process that just started) sealing exactly one value per
// tenant, so every value pays a key-table read and one KMS Decrypt to
// unwrap its tenant's key, with the other goroutines' values for other
// tenants in flight. This is colcrypt's worst case; a brand-new tenant
// costs a KMS Encrypt (wrap) and an INSERT instead.
func newColcryptCold(_ context.Context, e *kmsEnv) (*contender, error) {
	sc := scopes(e.tenants)
	// A Store of its own for open, so checking does not warm a phase's.
	opener, err := keystore.New(e.keyDB, e.kek)
	if err != nil {
		return nil, err
	}
	return &contender{
		name:        nameColcryptCold,
		label:       "colcrypt (cold: first use per tenant)",
		sampleEvery: 1,
		next: func(context.Context) (phase, error) {
			store, err := keystore.New(e.keyDB, e.kek)
			if err != nil {
				return phase{}, err
			}
			return phase{s: encryptorSealer(field.NewEncryptor(store), sc), limit: len(sc), done: store.Close}, nil
		},
		open:  encryptorOpener(field.NewEncryptor(opener), sc),
		close: opener.Close,
	}, nil
}
