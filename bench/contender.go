package main

import "context"

// sealer encrypts one field value of the tenant with index tenant. It must
// be safe for concurrent use.
type sealer interface {
	seal(ctx context.Context, tenant int, plaintext []byte) ([]byte, error)
}

// sealFunc adapts a function to sealer.
type sealFunc func(ctx context.Context, tenant int, plaintext []byte) ([]byte, error)

func (f sealFunc) seal(ctx context.Context, tenant int, plaintext []byte) ([]byte, error) {
	return f(ctx, tenant, plaintext)
}

// phase is a stretch of measured work with one sealer. Its setup, done by
// contender.next, and its done func are not timed.
type phase struct {
	s sealer
	// limit > 0 ends the phase after limit values, the i-th value for
	// tenant i mod tenants, so that with limit == tenants each tenant is
	// used exactly once; 0 runs until the round's time is up, each
	// goroutine cycling through the tenants from its own offset.
	limit int
	done  func()
}

// contender is one way of encrypting a field value.
type contender struct {
	// name is the short id used by --contenders and in JSON; label the
	// table's wording.
	name, label string
	// sampleEvery times one value in sampleEvery for the latency
	// percentiles. Timing costs two clock reads (~50ns), a sizeable share
	// of a warm in-memory seal, so the in-memory contenders sample; the
	// KMS-bound ones time every value.
	sampleEvery int
	// next prepares the next phase of a round.
	next func(ctx context.Context) (phase, error)
	// open decrypts what a phase's sealer produced for tenant; the run
	// checks every contender with it before measuring, so that none is
	// timed doing less than real encryption.
	open  func(ctx context.Context, tenant int, ciphertext []byte) ([]byte, error)
	close func()
}

// Contender names, in the order of the table.
const (
	nameColcryptWarm = "colcrypt-warm"
	nameColcryptCold = "colcrypt-cold"
	nameTink         = "tink-envelope"
	nameGocloud      = "gocloud-secrets"
	nameAESGCM       = "aes-gcm"
)

func contenderNames() []string {
	return []string{nameColcryptWarm, nameColcryptCold, nameTink, nameGocloud, nameAESGCM}
}

// singlePhase is a contender whose every round is one open-ended phase.
func singlePhase(s sealer) func(context.Context) (phase, error) {
	return func(context.Context) (phase, error) { return phase{s: s, done: func() {}}, nil }
}
