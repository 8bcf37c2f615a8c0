package migrate

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

func encryptUsers(t testing.TB, e *env, bidx *field.BlindIndex) {
	t.Helper()
	mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", BlindIndex: bidx},
		RunOptions{BatchSize: 150, Workers: 2})
}

func usageJob() Job { return Job{Table: "users", Column: "email_enc", TenantColumn: "tenant"} }

// TestReencryptAfterRotate rotates every tenant, re-encrypts, and checks
// that no row is left on the old version while reads kept working.
func TestReencryptAfterRotate(t *testing.T) {
	const n = 3000
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(n)
			bidx := lowerBidx(t)
			encryptUsers(t, e, bidx)

			before, err := e.m.Verify(ctx, usageJob(), RunOptions{CountOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			nonNull := before.Encrypted
			if len(before.Versions) != 1 || before.Versions[1] != nonNull {
				t.Fatalf("Verify(CountOnly) before rotation = %v, want every value on version 1", before.Versions)
			}
			tenants, err := e.store.Tenants(ctx)
			if err != nil || len(tenants) != 3 {
				t.Fatalf("Tenants = %v, %v", tenants, err)
			}
			for _, tn := range tenants {
				if v, err := e.store.Rotate(ctx, tn); err != nil || v != 2 {
					t.Fatalf("Rotate(%s) = %d, %v; want 2", tn, v, err)
				}
			}

			// Readers keep opening random rows through the re-encryption.
			stop := make(chan struct{})
			var reads atomic.Int64
			var readErr atomic.Value
			var wg sync.WaitGroup
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(1, 2))
				for {
					select {
					case <-stop:
						return
					default:
					}
					id := rnd.Int64N(n) + 1
					want, ok := emailOf(id)
					if !ok {
						continue
					}
					var raw []byte
					if err := e.db.QueryRow("SELECT email_enc FROM users WHERE id = " + itoa(id)).Scan(&raw); err != nil {
						readErr.Store(err)
						return
					}
					pt, err := e.open(tenantOfID(id), "email_enc", raw)
					if err != nil || string(pt) != want {
						readErr.Store(errors.New("row " + itoa(id) + ": read " + string(pt) + ": " + errString(err)))
						return
					}
					reads.Add(1)
				}
			})
			res, err := e.m.Run(ctx, Job{Kind: Reencrypt, Table: "users", Column: "email_enc", TenantColumn: "tenant", BlindIndex: bidx}, RunOptions{BatchSize: 100})
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("Run(reencrypt) = %+v, %v", res, err)
			}
			if err, _ := readErr.Load().(error); err != nil {
				t.Fatalf("read during reencrypt: %v", err)
			}
			if reads.Load() == 0 {
				t.Fatalf("no read happened during the reencrypt")
			}
			if res.Updated != nonNull || res.Skipped != 0 {
				t.Errorf("Run(reencrypt) = %+v, want %d updated", res, nonNull)
			}
			after, err := e.m.Verify(ctx, usageJob(), RunOptions{CountOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if after.Versions[1] != 0 || after.Versions[2] != nonNull {
				t.Errorf("Verify(CountOnly) after reencrypt = %v, want all %d on version 2", after.Versions, nonNull)
			}
			for tn, vs := range after.Tenants {
				if vs[1] != 0 {
					t.Errorf("tenant %s still has %d rows on version 1", tn, vs[1])
				}
			}
			e.checkEncrypted("email_enc", emailOf)
			// The blind index moved with the values.
			if rep, err := e.m.Verify(ctx, Job{Table: "users", Column: "email_enc", TenantColumn: "tenant", BlindIndex: bidx}, RunOptions{}); err != nil {
				t.Errorf("Verify = %+v, %v", rep, err)
			}
			// Again: nothing left to do.
			res = mustRun(t, e.m, Job{Kind: Reencrypt, Table: "users", Column: "email_enc", TenantColumn: "tenant", BlindIndex: bidx}, RunOptions{Restart: true})
			if res.Updated != 0 || res.Skipped != nonNull {
				t.Errorf("second reencrypt = %+v, want everything skipped", res)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestRewrap moves every data key under a new master key: no data row's
// bytes change, and everything opens with only the new master key.
func TestRewrap(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(1200)
			encryptUsers(t, e, nil)
			before := e.rawColumn("users", "email_enc")

			if err := localkms.GenerateKeyFile(e.keyFile, "k2"); err != nil {
				t.Fatal(err)
			}
			kek2, err := kms.Open(ctx, "local://"+e.keyFile+"?id=k2")
			if err != nil {
				t.Fatal(err)
			}
			defer kek2.Close()
			rr, err := e.store.Rewrap(ctx, kek2, keystore.RewrapOptions{})
			if err != nil || rr.Rewrapped != 3 {
				t.Fatalf("Rewrap = %+v, %v; want 3 keys rewrapped", rr, err)
			}
			after := e.rawColumn("users", "email_enc")
			if len(after) != len(before) {
				t.Fatalf("rows = %d, want %d", len(after), len(before))
			}
			for i := range before {
				if !bytes.Equal(before[i].v, after[i].v) || before[i].valid != after[i].valid {
					t.Fatalf("row %d changed under Rewrap", before[i].id)
				}
			}
			infos, err := e.store.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range infos {
				if k.KEKURI != kek2.URI() {
					t.Errorf("key %s v%d wrapped under %s, want %s", k.Tenant, k.Version, k.KEKURI, kek2.URI())
				}
			}
			// A fresh store that can reach only the new master key opens
			// every value.
			kd := dc.d.Name()
			only2, err := keystore.New(e.db, kek2, keystore.WithDialect(kd))
			if err != nil {
				t.Fatal(err)
			}
			defer only2.Close()
			m2, err := New(e.db, field.NewEncryptor(only2), WithDialect(dc.d.Name()))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := m2.Verify(ctx, usageJob(), RunOptions{})
			if err != nil || rep.Failed != 0 || rep.Encrypted == 0 {
				t.Errorf("Verify under the new master key only = %+v, %v", rep, err)
			}
		})
	}
}

// TestShred destroys one tenant: its rows fail with ErrKeyDestroyed and
// Verify reports them; other tenants are unaffected.
func TestShred(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(1500)
			encryptUsers(t, e, nil)
			if err := e.store.Shred(ctx, "globex"); err != nil {
				t.Fatal(err)
			}
			var shredded int64
			for _, r := range e.rawColumn("users", "email_enc") {
				if !r.valid {
					continue
				}
				pt, err := e.open(r.tenant, "email_enc", r.v)
				want, _ := emailOf(r.id)
				if r.tenant == "globex" {
					shredded++
					if !errors.Is(err, keystore.ErrKeyDestroyed) {
						t.Fatalf("row %d of the shredded tenant: Open = %q, %v; want ErrKeyDestroyed", r.id, pt, err)
					}
				} else if err != nil || string(pt) != want {
					t.Fatalf("row %d of tenant %s: Open = %q, %v; want %q", r.id, r.tenant, pt, err, want)
				}
			}
			rep, err := e.m.Verify(ctx, usageJob(), RunOptions{MaxFailures: 5})
			var ve *verifyError
			if !errors.As(err, &ve) || !errors.Is(err, errVerifyFailed) {
				t.Fatalf("Verify err = %v, want a *VerifyError", err)
			}
			if rep.Failed != shredded || rep.Encrypted+rep.Failed+rep.Null != rep.Rows || len(rep.Failures) != 5 || !rep.FailuresTruncated {
				t.Errorf("Verify = %+v, want %d failing rows, 5 listed", rep, shredded)
			}
			for _, f := range rep.Failures {
				if f.Tenant != "globex" || !strings.Contains(f.Reason, "destroyed") {
					t.Errorf("failure %+v, want a destroyed-key failure of globex", f)
				}
			}
			// A reencrypt reports the shredded rows and does the rest.
			res, err := e.m.Run(ctx, Job{Kind: Reencrypt, Table: "users", Column: "email_enc", TenantColumn: "tenant"}, RunOptions{})
			if !errors.Is(err, ErrRowsFailed) || res.Failed != shredded {
				t.Errorf("Run(reencrypt) = %+v, %v; want %d failed rows", res, err, shredded)
			}
		})
	}
}

// TestDecrypt is the way out: encrypt, then decrypt back in place and
// into another column.
func TestDecrypt(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(1000)
			mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{BatchSize: 90})
			mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "raw", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 90})
			e.exec("UPDATE users SET raw = NULL")

			res := mustRun(t, e.m, Job{Kind: Decrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{BatchSize: 90, Workers: 2})
			res2 := mustRun(t, e.m, Job{Kind: Decrypt, Table: "users", Column: "email_enc", ToColumn: "raw", TenantColumn: "tenant"}, RunOptions{BatchSize: 90})
			if res.Updated != res2.Updated || res.Updated == 0 {
				t.Errorf("decrypt updated %d and %d rows, want the same non-zero count", res.Updated, res2.Updated)
			}
			for _, col := range []string{"email", "raw"} {
				for _, r := range e.rawColumn("users", col) {
					want, ok := emailOf(r.id)
					if r.valid != ok || string(r.v) != want {
						t.Fatalf("row %d: %s = %q (valid %v), want %q", r.id, col, r.v, r.valid, want)
					}
				}
				rep, err := e.m.Verify(ctx, Job{Kind: Decrypt, Table: "users", Column: col, TenantColumn: "tenant"}, RunOptions{})
				if err != nil || rep.Encrypted != 0 || rep.Plaintext != res.Updated {
					t.Errorf("Verify(%s, plaintext) = %+v, %v", col, rep, err)
				}
			}
			// Verify expecting ciphertext now fails: that is its job.
			if _, err := e.m.Verify(ctx, Job{Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{}); !errors.Is(err, errVerifyFailed) {
				t.Errorf("Verify(email) after decrypt = %v, want ErrVerifyFailed", err)
			}
		})
	}
}

// TestOneConnection runs jobs on a pool of one connection: no key-store
// call may wait for a connection while a batch transaction holds the only
// one (or, on SQLite, the write lock).
func TestOneConnection(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(2000)
			e.db.SetMaxOpenConns(1)
			mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", BlindIndex: lowerBidx(t)},
				RunOptions{BatchSize: 100, Workers: 2})
			for _, tn := range tenants {
				if _, err := e.store.Rotate(ctx, tn); err != nil {
					t.Fatal(err)
				}
			}
			res := mustRun(t, e.m, Job{Kind: Reencrypt, Table: "users", Column: "email_enc", TenantColumn: "tenant", BlindIndex: lowerBidx(t)},
				RunOptions{BatchSize: 100, Workers: 2})
			if res.Updated == 0 || res.Failed != 0 {
				t.Errorf("reencrypt = %+v", res)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}
