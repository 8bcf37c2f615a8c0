package keystore

import (
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // gcpkms:// for kms.Open
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestCloudKMSOverGRPC runs the Store against the Cloud KMS driver and
// the fake Cloud KMS over real gRPC: the encryption context reaches the
// service, and gRPC status codes are classified for retries.
func TestCloudKMSOverGRPC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		const name = "projects/p/locations/global/keyRings/r/cryptoKeys/pii"
		srv := insecurefakekms.Start(t, name)
		open := func() *kms.Keeper {
			k, err := kms.Open(ctxb, srv.KeyURI(name))
			if err != nil {
				t.Fatalf("kms.Open(fake Cloud KMS) = %v", err)
			}
			t.Cleanup(func() { k.Close() })
			return k
		}
		a := newTestStore(t, tdb, tdb.db, open())
		ka, err := a.active(ctxb, "acme")
		if err != nil {
			t.Fatalf("Active(acme) = %v", err)
		}
		// One encrypt for the data key, one for the audit trail's chain key.
		if e, d := srv.Calls(); e != 2 || d != 0 {
			t.Fatalf("KMS calls = %d encrypt, %d decrypt; want 2, 0", e, d)
		}

		srv.SetFaults(insecurefakekms.Faults{FailNext: 2, FailNextCode: codes.Unavailable})
		b := newTestStore(t, tdb, tdb.open(t), open())
		kb, err := b.active(ctxb, "acme")
		if err != nil {
			t.Fatalf("Active(acme) through 2 UNAVAILABLE = %v", err)
		}
		sealOpen(t, ka, kb)
		if st := b.Stats(); st.KMSUnwraps != 3 || st.KMSRetries != 2 {
			t.Fatalf("Stats() = %+v, want 3 unwraps, 2 retries", st)
		}

		srv.SetFaults(insecurefakekms.Faults{FailNext: 1, FailNextCode: codes.PermissionDenied})
		c := newTestStore(t, tdb, tdb.open(t), open())
		_, err = c.lookupKey(ctxb, "acme", 1)
		if !isKMSError(err) || kms.IsRetryable(err) {
			t.Fatalf("Key with PERMISSION_DENIED = %v, want a non-retryable Error", err)
		}
		if st := c.Stats(); st.KMSUnwraps != 1 {
			t.Fatalf("unwraps = %d, want 1 (no retry)", st.KMSUnwraps)
		}
		// The wrapped key is bound to its tenant: the service refuses it
		// under another tenant's encryption context.
		if _, err := tdb.db.Exec(tdb.q(`INSERT INTO {keys} (tenant_id, version, state, kek_uri, wrapped_dek, created_at, updated_at)
			SELECT 'globex', version, state, kek_uri, wrapped_dek, created_at, updated_at FROM {keys} WHERE tenant_id = ?`), "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.lookupKey(ctxb, "globex", 1); !errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("Key(globex) with acme's wrapped key = %v, want kms.ErrUnwrap", err)
		}
	})
}

// TestLocalKMSRotation walks a master key rotation with localkms: a Store
// on the new key reads rows of the old one through WithMasterKeys, Rewrap
// moves them, and Close leaves the caller's keepers open.
func TestLocalKMSRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		path := filepath.Join(t.TempDir(), "master.keys")
		if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
			t.Fatal(err)
		}
		k1, err := kms.Open(ctxb, localkms.FileURL(path, "k1"))
		if err != nil {
			t.Fatal(err)
		}
		defer k1.Close()
		s1 := newTestStore(t, tdb, tdb.db, k1)
		old, err := s1.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}

		if err := localkms.GenerateKeyFile(path, "k2"); err != nil {
			t.Fatal(err)
		}
		k2, err := kms.Open(ctxb, localkms.FileURL(path, "k2"))
		if err != nil {
			t.Fatal(err)
		}
		defer k2.Close()
		s2, err := New(tdb.open(t), k2, append(tdb.opts(), WithMasterKeys(k1))...)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		got, err := s2.active(ctxb, "acme")
		if err != nil {
			t.Fatalf("Active(acme) on the new master key, row under the old = %v", err)
		}
		sealOpen(t, old, got)
		if v, err := s2.Rotate(ctxb, "acme"); err != nil || v != 2 {
			t.Fatalf("Rotate = %d, %v", v, err)
		}
		if r := readRaw(t, tdb, "acme", 2); r.kekURI != k2.URI() {
			t.Fatalf("rotated row's kek_uri = %s, want %s", r.kekURI, k2.URI())
		}
		res, err := s2.Rewrap(ctxb, k2, RewrapOptions{})
		if err != nil || res != (RewrapResult{Scanned: 2, Rewrapped: 1, Skipped: 1}) {
			t.Fatalf("Rewrap(k2) = %+v, %v; want 1 rewrapped, 1 skipped", res, err)
		}
		if r := readRaw(t, tdb, "acme", 1); r.kekURI != k2.URI() {
			t.Fatalf("rewrapped row's kek_uri = %s, want %s", r.kekURI, k2.URI())
		}

		s2.Close()
		for _, k := range []*kms.Keeper{k1, k2} {
			if _, err := k.Wrap(ctxb, make([]byte, 32), dekContext("acme", 9)); err != nil {
				t.Fatalf("the caller's keeper %s after Store.Close: Wrap = %v, want it open", k.URI(), err)
			}
		}
	})
}
