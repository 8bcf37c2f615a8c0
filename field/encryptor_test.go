package field_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/keystore"
)

var (
	emails  = field.Scope{Tenant: "acme", Table: "patients", Column: "email"}
	ctxBg   = context.Background()
	message = []byte("ann@example.com")
)

func TestSealOpenRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		for _, mode := range []field.Mode{field.Randomized, field.Deterministic} {
			for _, pt := range [][]byte{nil, {}, message, bytes.Repeat([]byte{0xff}, 4096)} {
				v, err := core(e.enc).Seal(ctxBg, emails, mode, pt)
				if err != nil {
					t.Fatalf("SealMode(%v, %d bytes) err = %v", mode, len(pt), err)
				}
				if len(pt) > 0 && bytes.Contains(v, pt) {
					t.Errorf("SealMode(%v) = %x holds the plaintext", mode, v)
				}
				got, err := e.enc.Open(ctxBg, emails, v)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open(SealMode(%v, %q)) = %q, %v", mode, pt, got, err)
				}
				armored := codec.Armor(nil, v)
				if got, err := e.enc.Open(ctxBg, emails, armored); err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open(armored %v) = %q, %v", mode, got, err)
				}
			}
		}
		a, _ := e.enc.Seal(ctxBg, emails, message)
		b2, _ := e.enc.Seal(ctxBg, emails, message)
		if bytes.Equal(a, b2) {
			t.Error("two randomized seals of one plaintext are equal")
		}
		d1, _ := e.enc.SealDeterministic(ctxBg, emails, message)
		d2, _ := e.enc.SealDeterministic(ctxBg, emails, message)
		if !bytes.Equal(d1, d2) {
			t.Error("two deterministic seals of one plaintext differ")
		}
	})
}

// TestMovedValueFails moves a value to every place it does not belong: it
// must fail with the one authentication error, never open.
func TestMovedValueFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		for _, mode := range []field.Mode{field.Randomized, field.Deterministic} {
			v, err := core(e.enc).Seal(ctxBg, emails, mode, message)
			if err != nil {
				t.Fatal(err)
			}
			// Another tenant, which has keys of its own.
			if _, err := e.enc.Seal(ctxBg, field.Scope{Tenant: "globex", Table: "patients", Column: "email"}, []byte("x")); err != nil {
				t.Fatal(err)
			}
			moves := map[string]field.Scope{
				"other tenant": {Tenant: "globex", Table: "patients", Column: "email"},
				"other column": {Tenant: "acme", Table: "patients", Column: "name"},
				"other table":  {Tenant: "acme", Table: "doctors", Column: "email"},
			}
			for what, s := range moves {
				if got, err := e.enc.Open(ctxBg, s, v); !errors.Is(err, codec.ErrAuth) {
					t.Errorf("%v value opened in %s = %q, %v; want codec.ErrAuth", mode, what, got, err)
				}
			}
			// A tenant that has no key at all.
			if _, err := e.enc.Open(ctxBg, field.Scope{Tenant: "nobody", Table: "patients", Column: "email"}, v); !errors.Is(err, codec.ErrAuth) {
				t.Errorf("%v value opened for a tenant without keys err = %v, want codec.ErrAuth", mode, err)
			}
		}

		// Another key version: rotate, then relabel a version-1 value as
		// version 2 (byte 2 of the header).
		v1, err := e.enc.Seal(ctxBg, emails, message)
		if err != nil {
			t.Fatal(err)
		}
		ver, err := e.store.Rotate(ctxBg, "acme")
		if err != nil {
			t.Fatal(err)
		}
		relabelled := bytes.Clone(v1)
		relabelled[2] = byte(ver)
		if _, err := e.enc.Open(ctxBg, emails, relabelled); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("value relabelled to version %d err = %v, want codec.ErrAuth", ver, err)
		}
		unknown := bytes.Clone(v1)
		unknown[2] = 99
		if _, err := e.enc.Open(ctxBg, emails, unknown); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("value relabelled to a version that never existed err = %v, want codec.ErrAuth", err)
		}
		// The old version still opens after the rotation, and new values
		// use the new one.
		if got, err := e.enc.Open(ctxBg, emails, v1); err != nil || !bytes.Equal(got, message) {
			t.Errorf("Open(version 1 value after rotation) = %q, %v", got, err)
		}
		v2, err := e.enc.Seal(ctxBg, emails, message)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := field.KeyVersion(v2); got != ver {
			t.Errorf("KeyVersion(value sealed after rotation) = %d, want %d", got, ver)
		}
	})
}

func TestOpenTamperedEveryBit(t *testing.T) {
	e := newEnv(t, backends[0])
	v, err := e.enc.Seal(ctxBg, emails, message)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(v)
			bad[i] ^= 1 << bit
			_, err := e.enc.Open(ctxBg, emails, bad)
			if i == 0 {
				// Without the magic byte it is not a colcrypt value at all.
				if !errors.Is(err, field.ErrNotEncrypted) && !errors.Is(err, codec.ErrAuth) {
					t.Errorf("Open(bit %d of byte 0 flipped) err = %v", bit, err)
				}
				continue
			}
			if !errors.Is(err, codec.ErrAuth) {
				t.Errorf("Open(bit %d of byte %d flipped) err = %v, want codec.ErrAuth", bit, i, err)
			}
		}
	}
}

func TestOpenNotEncrypted(t *testing.T) {
	e := newEnv(t, backends[0])
	_, err := e.enc.Open(ctxBg, emails, []byte("ann@example.com"))
	var ne *fieldcore.NotEncryptedError
	if !errors.As(err, &ne) || !errors.Is(err, field.ErrNotEncrypted) || ne.Column != "email" || ne.Table != "patients" {
		t.Fatalf("Open(plaintext) err = %v, want *NotEncryptedError for patients.email", err)
	}
	// Text that merely looks armored is not treated as plaintext.
	if _, err := e.enc.Open(ctxBg, emails, []byte(codec.ArmorPrefix+"not base64!")); !errors.Is(err, codec.ErrAuth) {
		t.Errorf("Open(bad armor) err = %v, want codec.ErrAuth", err)
	}
}

func TestShreddedTenant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		v, err := e.enc.Seal(ctxBg, emails, message)
		if err != nil {
			t.Fatal(err)
		}
		other := field.Scope{Tenant: "globex", Table: "patients", Column: "email"}
		w, err := e.enc.Seal(ctxBg, other, message)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Shred(ctxBg, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.enc.Open(ctxBg, emails, v); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("Open(shredded tenant's value) err = %v, want keystore.ErrKeyDestroyed", err)
		}
		if _, err := e.enc.Seal(ctxBg, emails, message); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("Seal(shredded tenant) err = %v, want keystore.ErrKeyDestroyed", err)
		}
		if got, err := e.enc.Open(ctxBg, other, w); err != nil || !bytes.Equal(got, message) {
			t.Errorf("Open(other tenant after shred) = %q, %v", got, err)
		}
	})
}

func TestTenantResolution(t *testing.T) {
	e := newEnv(t, backends[0])
	noTenant := field.Scope{Table: "patients", Column: "email"}
	acmeCtx := field.WithTenant(ctxBg, "acme")

	if _, err := e.enc.Seal(ctxBg, noTenant, message); !errors.Is(err, field.ErrNoTenant) {
		t.Errorf("Seal(no tenant anywhere) err = %v, want ErrNoTenant", err)
	}
	v, err := e.enc.Seal(acmeCtx, noTenant, message)
	if err != nil {
		t.Fatalf("Seal(tenant from ctx) err = %v", err)
	}
	// Sealed for acme via ctx: opens with the row tenant acme.
	if got, err := e.enc.Open(ctxBg, emails, v); err != nil || !bytes.Equal(got, message) {
		t.Errorf("Open(row tenant acme) = %q, %v", got, err)
	}
	globexRow := field.Scope{Tenant: "globex", Table: "patients", Column: "email"}
	if _, err := e.enc.Open(acmeCtx, globexRow, v); !errors.Is(err, field.ErrTenantMismatch) {
		t.Errorf("Open(row globex, ctx acme) err = %v, want ErrTenantMismatch", err)
	}
	if _, err := e.enc.Seal(acmeCtx, globexRow, v); !errors.Is(err, field.ErrTenantMismatch) {
		t.Errorf("Seal(row globex, ctx acme) err = %v, want ErrTenantMismatch", err)
	}

	fixed := field.NewEncryptor(e.store, field.WithFixedTenant("acme"))
	if got, err := fixed.Open(ctxBg, noTenant, v); err != nil || !bytes.Equal(got, message) {
		t.Errorf("Open(fixed tenant) = %q, %v", got, err)
	}
	if got, err := core(fixed).ResolveTenant(field.WithTenant(ctxBg, "globex"), ""); err != nil || got != "globex" {
		t.Errorf("ResolveTenant(ctx globex, fixed acme) = %q, %v; want the context's tenant", got, err)
	}
}

// TestCandidatesCoverLiveVersions checks that equality lookups of a
// legacy blind index (and of a deterministic column) find rows written
// before a rotation.
func TestCandidatesCoverLiveVersions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		bidx, err := field.NewBlindIndex("email_bidx", 16, "trim", "lower")
		if err != nil {
			t.Fatal(err)
		}
		bidx.Keying = field.IndexLegacy
		if c, err := e.enc.BlindIndexCandidates(ctxBg, emails, bidx, message); err != nil || len(c) != 0 {
			t.Errorf("BlindIndexCandidates(tenant without keys) = %d candidates, %v; want none", len(c), err)
		}
		oldIdx, err := e.enc.BlindIndex(ctxBg, emails, bidx, []byte(" Ann@Example.com "))
		if err != nil {
			t.Fatal(err)
		}
		oldDet, err := e.enc.SealDeterministic(ctxBg, emails, message)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Rotate(ctxBg, "acme"); err != nil {
			t.Fatal(err)
		}
		newIdx, err := e.enc.BlindIndex(ctxBg, emails, bidx, message)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(oldIdx, newIdx) {
			t.Error("blind index unchanged by rotation")
		}
		idxs, err := e.enc.BlindIndexCandidates(ctxBg, emails, bidx, []byte("ANN@example.com"))
		if err != nil || len(idxs) != 2 || !bytes.Equal(idxs[0], newIdx) || !bytes.Equal(idxs[1], oldIdx) {
			t.Errorf("BlindIndexCandidates = %x, %v; want [new old] = [%x %x]", idxs, err, newIdx, oldIdx)
		}
		dets, err := e.enc.DeterministicCandidates(ctxBg, emails, message)
		if err != nil || len(dets) != 2 || !bytes.Equal(dets[1], oldDet) {
			t.Errorf("DeterministicCandidates = %x, %v; want the old value %x second", dets, err, oldDet)
		}
		otherCol := field.Scope{Tenant: "acme", Table: "patients", Column: "name"}
		other, _ := e.enc.BlindIndex(ctxBg, otherCol, bidx, message)
		if bytes.Equal(other, newIdx) {
			t.Error("blind index equal across columns")
		}
	})
}

// TestIndexKeyingAcrossRotations checks the three keyings of a blind
// index around data-key rotations: a stable index is one value that
// rotations do not change, a legacy one a value per live version, and a
// migrating one writes the stable value and looks up both.
func TestIndexKeyingAcrossRotations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		stable, err := field.NewBlindIndex("email_bidx", 16, "trim", "lower")
		if err != nil {
			t.Fatal(err)
		}
		legacy, migrating := *stable, *stable
		legacy.Keying, migrating.Keying = field.IndexLegacy, field.IndexMigrating
		if _, err := e.enc.Seal(ctxBg, emails, message); err != nil {
			t.Fatal(err)
		}
		before, err := e.enc.BlindIndex(ctxBg, emails, stable, message)
		if err != nil {
			t.Fatal(err)
		}
		legacyV1, err := e.enc.BlindIndex(ctxBg, emails, &legacy, message)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(before, legacyV1) {
			t.Fatal("stable index equals the legacy one")
		}
		for range 3 {
			if _, err := e.store.Rotate(ctxBg, "acme"); err != nil {
				t.Fatal(err)
			}
		}
		after, err := e.enc.BlindIndex(ctxBg, emails, stable, []byte(" ANN@example.com"))
		if err != nil || !bytes.Equal(after, before) {
			t.Fatalf("stable BlindIndex after 3 rotations = %x, %v; want %x", after, err, before)
		}
		got, err := e.enc.BlindIndexCandidates(ctxBg, emails, stable, message)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], before) {
			t.Fatalf("stable BlindIndexCandidates = %x, %v; want [%x]", got, err, before)
		}
		if w, err := e.enc.BlindIndex(ctxBg, emails, &migrating, message); err != nil || !bytes.Equal(w, before) {
			t.Fatalf("migrating BlindIndex = %x, %v; want the stable %x", w, err, before)
		}
		got, err = e.enc.BlindIndexCandidates(ctxBg, emails, &migrating, message)
		if err != nil || len(got) != 5 || !bytes.Equal(got[0], before) || !bytes.Equal(got[4], legacyV1) {
			t.Fatalf("migrating BlindIndexCandidates = %x, %v; want the stable value then 4 legacy ones ending in %x", got, err, legacyV1)
		}
		// Another name on the same column is another index.
		named := *stable
		named.Name = "email_bidx_v2"
		if o, _ := e.enc.BlindIndex(ctxBg, emails, &named, message); bytes.Equal(o, before) {
			t.Fatal("two index names give one value")
		}
	})
}

// TestNoKeyMaterialInOutput formats every type that holds key material,
// and every error, and looks for the data key and its encodings.
func TestNoKeyMaterialInOutput(t *testing.T) {
	e := newEnv(t, backends[0])
	v, err := e.enc.Seal(ctxBg, emails, message)
	if err != nil {
		t.Fatal(err)
	}
	dek := unwrapDEK(t, e, "acme", 1)
	cipher, err := e.store.ActiveCipher(ctxBg, "acme", "patients", "email")
	if err != nil {
		t.Fatal(err)
	}
	_, authErr := e.enc.Open(ctxBg, field.Scope{Tenant: "acme", Table: "patients", Column: "other"}, v)
	things := map[string]any{
		"Encryptor": e.enc, "Store": e.store, "Cipher": cipher,
		"Stats": e.store.Stats(), "auth error": authErr, "Keeper": e.kek,
		"struct of all": struct {
			E *field.Encryptor
			S *keystore.Store
			C any
		}{e.enc, e.store, cipher},
	}
	for name, thing := range things {
		for _, out := range formatAll(thing) {
			if leaks(out, dek) {
				t.Errorf("formatting %s leaks the data key: %q", name, out)
			}
		}
	}
}

// formatAll renders x under every fmt verb that could print bytes, and
// as JSON.
func formatAll(x any) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out = append(out, fmt.Sprintf(verb, x))
	}
	if j, err := jsonMarshal(x); err == nil {
		out = append(out, string(j))
	}
	return out
}

// plainKeys hides the key store's one-lookup methods (ActiveCipher,
// Cipher), so an Encryptor over it takes the general path: Active or Key,
// then Key.Cipher.
type plainKeys struct{ field.Keys }

// TestSealPaths: an Encryptor over the Store (the lock-free ActiveCipher)
// and one over plain Keys seal alike, follow a rotation at once, and
// each opens the other's values; over the Store a warm seal is one hit.
func TestSealPaths(t *testing.T) {
	e := newEnv(t, backends[0])
	plain := field.NewEncryptor(plainKeys{e.store})
	for _, enc := range []*field.Encryptor{e.enc, plain} {
		if _, err := enc.Seal(ctxBg, emails, message); err != nil {
			t.Fatal(err)
		}
	}
	before := e.store.Stats()
	for range 5 {
		if _, err := e.enc.Seal(ctxBg, emails, message); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.store.Stats(); st.Hits-before.Hits != 5 || st.Misses != before.Misses {
		t.Fatalf("5 warm seals counted %d hits, %d misses; want 5, 0", st.Hits-before.Hits, st.Misses-before.Misses)
	}
	for round := range 2 {
		want := uint32(round + 1)
		for i, enc := range []*field.Encryptor{e.enc, plain} {
			for _, mode := range []field.Mode{field.Randomized, field.Deterministic} {
				v, err := core(enc).Seal(ctxBg, emails, mode, message)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := field.KeyVersion(v); got != want {
					t.Errorf("encryptor %d, %v: sealed under version %d, want %d", i, mode, got, want)
				}
				for j, o := range []*field.Encryptor{e.enc, plain} {
					if got, err := o.Open(ctxBg, emails, v); err != nil || !bytes.Equal(got, message) {
						t.Errorf("encryptor %d opened encryptor %d's value = %q, %v", j, i, got, err)
					}
				}
			}
			h, err := core(enc).Handle(ctxBg, emails)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := h.KeyVersion(ctxBg); err != nil || v != want {
				t.Errorf("encryptor %d: active KeyVersion = %d, %v; want version %d", i, v, err, want)
			}
		}
		if _, err := e.store.Rotate(ctxBg, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.Shred(ctxBg, "acme"); err != nil {
		t.Fatal(err)
	}
	for i, enc := range []*field.Encryptor{e.enc, plain} {
		if _, err := enc.Seal(ctxBg, emails, message); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("encryptor %d: Seal after Shred = %v, want keystore.ErrKeyDestroyed", i, err)
		}
	}
}
