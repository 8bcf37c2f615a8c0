package keystore

import (
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// connCounter is a TCP listener that counts the connections it accepts
// and never answers: the host an attacker names in a key table row.
type connCounter struct {
	lis net.Listener
	n   atomic.Int64
	wg  sync.WaitGroup
}

func newConnCounter(t *testing.T) *connCounter {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{lis: lis}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { lis.Close(); c.wg.Wait() })
	return c
}

func (c *connCounter) addr() string { return c.lis.Addr().String() }

// accepted is the number of connections accepted, after a moment for
// one in flight to be counted.
func (c *connCounter) accepted() int64 {
	time.Sleep(50 * time.Millisecond)
	return c.n.Load()
}

// wantUnknownMasterKey fails unless err is ErrUnknownMasterKey naming
// the row (tenant, version) and its stored kek_uri.
func wantUnknownMasterKey(t *testing.T, call string, err error, tenant string, version uint32, name string) {
	t.Helper()
	var ue *Error
	if !errors.Is(err, ErrUnknownMasterKey) || !errors.As(err, &ue) {
		t.Fatalf("%s = %v, want ErrUnknownMasterKey", call, err)
	}
	if ue.Tenant != tenant || ue.Version != version || ue.KEKURI != name {
		t.Fatalf("%s = %+v, want tenant %q version %d name %q", call, *ue, tenant, version, name)
	}
}

// setKEKURI overwrites a row's kek_uri, as an attacker with write access
// to the database (not to the KMS) can.
func setKEKURI(t *testing.T, tdb *testDB, tenant string, version uint32, uri string) {
	t.Helper()
	if _, err := tdb.db.Exec(tdb.q(`UPDATE {keys} SET kek_uri = ? WHERE tenant_id = ? AND version = ?`), uri, tenant, int64(version)); err != nil {
		t.Fatal(err)
	}
}

// TestRowCannotChooseTheKMS: a key table row whose kek_uri names another
// Cloud KMS key, on a host and with insecure transport of the attacker's
// choosing, is refused by a cold Store's Key, Active, liveKeys and Rewrap
// with ErrUnknownMasterKey, and no connection is ever made to that host.
// TenantPolicy.KEK naming an unconfigured key creates nothing.
func TestRowCannotChooseTheKMS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		attacker := newConnCounter(t)
		evil := "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k?endpoint=" + attacker.addr() + "&insecure=true"
		kmsA := newInsecureTestKMS(t)
		kek := kmsA.keeper(testKEK)
		if _, err := newTestStore(t, tdb, tdb.db, kek).active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		setKEKURI(t, tdb, "acme", 1, evil)

		// Bounded, so that a Store that does dial gives up quickly.
		opts := []Option{WithTuning(Tuning{KMSAttempts: 1, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}), WithTuning(Tuning{KMSTimeout: 300 * time.Millisecond})}
		cold := func() *Store { return newTestStore(t, tdb, tdb.open(t), kek, opts...) }
		_, err := cold().lookupKey(ctxb, "acme", 1)
		wantUnknownMasterKey(t, "Key(acme, 1)", err, "acme", 1, evil)
		_, err = cold().active(ctxb, "acme")
		wantUnknownMasterKey(t, "Active(acme)", err, "acme", 1, evil)
		_, err = cold().liveKeys(ctxb, "acme")
		wantUnknownMasterKey(t, "liveKeys(acme)", err, "acme", 1, evil)
		res, err := cold().Rewrap(ctxb, newInsecureTestKMS(t).keeper(testKEK2), RewrapOptions{})
		wantUnknownMasterKey(t, "Rewrap", err, "acme", 1, evil)
		if res.Rewrapped != 0 || readRaw(t, tdb, "acme", 1).kekURI != evil {
			t.Fatalf("Rewrap = %+v, row now under %s; want nothing rewrapped", res, readRaw(t, tdb, "acme", 1).kekURI)
		}
		if n := attacker.accepted(); n != 0 {
			t.Fatalf("connections to the host the row names = %d, want 0", n)
		}
		if kmsA.unwraps.Load() != 0 {
			t.Fatalf("unwraps by the configured key = %d, want 0", kmsA.unwraps.Load())
		}

		// A per-tenant key must be a configured one too.
		other := "local://" + filepath.Join(t.TempDir(), "attacker.keys") + "?id=k1"
		s := newTestStore(t, tdb, tdb.open(t), kek, append(opts, WithTenantPolicy(TenantPolicy{KEK: func(string) string { return other }}))...)
		_, err = s.active(ctxb, "globex")
		wantUnknownMasterKey(t, "Active(globex) with TenantPolicy.KEK naming an unconfigured key", err, "globex", 0, other)
		if n := countRows(t, tdb, "tenant_id = ?", "globex"); n != 0 {
			t.Fatalf("rows of globex = %d, want 0", n)
		}
	})
}

// TestRowUnderAttackerKeyNeverSeals: an attacker who replaces a tenant's
// key row by one wrapped under a local:// master key of their own (a key
// file they hold) gets no value sealed under their data key: Active and
// ActiveCipher fail with ErrUnknownMasterKey. Naming the configured key
// instead does not help them: its KMS refuses the blob.
func TestRowUnderAttackerKeyNeverSeals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		dir := t.TempDir()
		open := func(file string) *kms.Keeper {
			path := filepath.Join(dir, file)
			if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
				t.Fatal(err)
			}
			k, err := kms.Open(ctxb, localkms.FileURL(path, "k1"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { k.Close() })
			return k
		}
		app, theirs := open("app.keys"), open("attacker.keys")
		if _, err := newTestStore(t, tdb, tdb.db, app).active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		// The attacker deletes the row and lets a store of theirs, on
		// their own master key, write acme's version 1.
		if _, err := tdb.db.Exec(tdb.q(`DELETE FROM {keys} WHERE tenant_id = ?`), "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := newTestStore(t, tdb, tdb.open(t), theirs).active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}

		s := newTestStore(t, tdb, tdb.open(t), app)
		_, err := s.active(ctxb, "acme")
		wantUnknownMasterKey(t, "Active(acme)", err, "acme", 1, theirs.URI())
		_, err = s.ActiveCipher(ctxb, "acme", "patients", "name")
		wantUnknownMasterKey(t, "ActiveCipher(acme)", err, "acme", 1, theirs.URI())

		setKEKURI(t, tdb, "acme", 1, app.URI())
		if _, err := newTestStore(t, tdb, tdb.open(t), app).ActiveCipher(ctxb, "acme", "patients", "name"); !errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("ActiveCipher(acme) with the attacker's blob under the app's key name = %v, want kms.ErrUnwrap", err)
		}
	})
}

// TestRowWithConnectionSettingsOpens: a row whose kek_uri is the
// configured key's URL with connection settings in it, as releases that
// stored the URL as given wrote it, opens with the configured keeper: the
// name is matched canonically, and the endpoint it names (here an old
// one, where nothing answers) is never dialled.
func TestRowWithConnectionSettingsOpens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		const name = "projects/p/locations/global/keyRings/r/cryptoKeys/pii"
		srv := insecurefakekms.Start(t, name)
		kek, err := kms.Open(ctxb, srv.KeyURI(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kek.Close() })
		if kek.URI() != "gcpkms://"+name {
			t.Fatalf("Keeper.URI() = %s, want the canonical name", kek.URI())
		}
		want, err := newTestStore(t, tdb, tdb.db, kek).active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if r := readRaw(t, tdb, "acme", 1); r.kekURI != "gcpkms://"+name {
			t.Fatalf("new row's kek_uri = %s, want the canonical name", r.kekURI)
		}
		old := newConnCounter(t)
		setKEKURI(t, tdb, "acme", 1, "gcpkms://"+name+"?endpoint="+old.addr()+"&insecure=true")

		opts := []Option{WithTuning(Tuning{KMSAttempts: 1, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Millisecond}), WithTuning(Tuning{KMSTimeout: 300 * time.Millisecond})}
		got, err := newTestStore(t, tdb, tdb.open(t), kek, opts...).active(ctxb, "acme")
		if err != nil {
			t.Fatalf("Active(acme) on a row with connection settings in kek_uri = %v", err)
		}
		sealOpen(t, want, got)
		if _, err := newTestStore(t, tdb, tdb.open(t), kek, opts...).lookupKey(ctxb, "acme", 1); err != nil {
			t.Fatalf("Key(acme, 1) on a row with connection settings in kek_uri = %v", err)
		}
		// Rewrap sees the row as under the configured key already.
		res, err := newTestStore(t, tdb, tdb.open(t), kek, opts...).Rewrap(ctxb, kek, RewrapOptions{})
		if err != nil || res != (RewrapResult{Scanned: 1, Skipped: 1}) {
			t.Fatalf("Rewrap(same key) = %+v, %v; want 1 skipped", res, err)
		}
		if n := old.accepted(); n != 0 {
			t.Fatalf("connections to the endpoint the row names = %d, want 0", n)
		}
	})
}

// TestWithMasterKeysErrors: a nil keeper, or two keepers with one name,
// is a configuration error.
func TestWithMasterKeysErrors(t *testing.T) {
	a, b := newInsecureTestKMS(t), newInsecureTestKMS(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tt := range []struct {
		name string
		opt  Option
	}{
		{"nil", WithMasterKeys(nil)},
		{"same name", WithMasterKeys(b.keeper(testKEK))},
	} {
		if s, err := New(db, a.keeper(testKEK), WithDialect("sqlite"), tt.opt); err == nil {
			s.Close()
			t.Errorf("New(%s) = nil error, want one", tt.name)
		}
	}
	k := a.keeper(testKEK)
	s, err := New(db, k, WithDialect("sqlite"), WithMasterKeys(k, b.keeper(testKEK2)))
	if err != nil {
		t.Fatalf("New(same keeper twice, another) = %v", err)
	}
	s.Close()
}
