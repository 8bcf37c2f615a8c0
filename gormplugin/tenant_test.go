package gormplugin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // the gcpkms:// scheme
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestTransactionRollsBackOnKMSFailure: a KMS failure while creating a
// new tenant's key fails the statement before any SQL, and rolls back
// what the transaction wrote before it: nothing is half written.
func TestTransactionRollsBackOnKMSFailure(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		ctx := context.Background()
		srv := insecurefakekms.Start(t)
		kek, err := kms.Open(ctx, srv.KeyURI(insecurefakekms.DefaultKeyName))
		if err != nil {
			t.Fatalf("kms.Open(fake Cloud KMS) = %v", err)
		}
		t.Cleanup(func() { kek.Close() })
		e := newEnv(t, d, envOptions{kek: kek, keyOpts: []keystore.Option{keystore.WithTuning(keystore.Tuning{KMSAttempts: 2, KMSRetryBase: time.Millisecond, KMSRetryMax: 2 * time.Millisecond})}}, allModels...)
		if _, err := e.keys.Active(ctx, "acme"); err != nil {
			t.Fatalf("Active(acme) = %v", err)
		}
		count := func() int {
			t.Helper()
			var n int
			if err := e.raw.QueryRow("SELECT count(*) FROM patients").Scan(&n); err != nil {
				t.Fatalf("count: %v", err)
			}
			return n
		}

		srv.SetFaults(insecurefakekms.Faults{FailAll: codes.Unavailable})
		calls, _ := srv.Calls()
		err = e.db.Transaction(func(tx *gorm.DB) error {
			ann := newPatient("Ann")
			if err := tx.WithContext(ctxFor("acme")).Create(&ann).Error; err != nil {
				return err // acme's key is cached: no KMS call
			}
			bob := newPatient("Bob")
			return tx.WithContext(ctxFor("newco")).Create(&bob).Error
		})
		var fe *gormplugin.FieldError
		if err == nil || !kms.IsRetryable(err) || !errors.As(err, &fe) {
			t.Fatalf("Transaction with a KMS outage = %v, want a retryable FieldError", err)
		}
		if enc, _ := srv.Calls(); enc == calls {
			t.Fatalf("the KMS was never called for the new tenant")
		}
		if n := count(); n != 0 {
			t.Fatalf("after the rolled back transaction %d patients, want 0", n)
		}

		// One statement, rows of a known and a new tenant.
		batch := []Patient{newPatient("Cy"), newPatient("Di")}
		batch[0].TenantID, batch[1].TenantID = "acme", "newco"
		if err := e.db.Create(&batch).Error; !kms.IsRetryable(err) {
			t.Fatalf("Create(batch with a new tenant) during the outage = %v, want a retryable error", err)
		}
		if n := count(); n != 0 {
			t.Fatalf("after the failed batch %d patients, want 0", n)
		}

		// Once the KMS is back the same work goes through. (SQLite has one
		// writer: the new tenant's key row is written through the key
		// store's own connection, so it must exist before the transaction
		// writes, its index key too: InitTenant makes both.)
		srv.SetFaults(insecurefakekms.Faults{})
		if err := e.keys.InitTenant(ctx, "newco"); err != nil {
			t.Fatalf("InitTenant(newco) after the outage = %v", err)
		}
		if _, err := e.keys.ActiveIndexer(ctx, "newco", "patients", "email", "email_bidx"); err != nil {
			t.Fatalf("ActiveIndexer(newco) after the outage = %v", err)
		}
		err = e.db.Transaction(func(tx *gorm.DB) error {
			ann, bob := newPatient("Ann"), newPatient("Bob")
			if err := tx.WithContext(ctxFor("acme")).Create(&ann).Error; err != nil {
				return err
			}
			return tx.WithContext(ctxFor("newco")).Create(&bob).Error
		})
		if err != nil || count() != 2 {
			t.Fatalf("Transaction after the outage = %v, %d rows; want nil, 2", err, count())
		}
	})
}

// TestFixedTenant: a single-tenant application sets the tenant once.
func TestFixedTenant(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{encOpts: []field.Option{field.WithFixedTenant("solo")}}, allModels...)
		if err := e.db.Create(&Memo{Body: "hello"}).Error; err != nil {
			t.Fatalf("Create(Memo) with a fixed tenant = %v", err)
		}
		var ms []Memo
		if err := e.db.Find(&ms).Error; err != nil || len(ms) != 1 || ms[0].Body != "hello" {
			t.Fatalf("Find(Memo) = %+v, %v", ms, err)
		}
		p := newPatient("Ann")
		if err := e.db.Create(&p).Error; err != nil || p.TenantID != "solo" {
			t.Fatalf("Create(Patient) = %v, tenant %q; want the fixed tenant filled in", err, p.TenantID)
		}
		// Rows of the fixed tenant and of another, tenant column last, no
		// context: each row's own tenant opens it.
		for _, tc := range []struct{ ctx context.Context }{{context.Background()}, {ctxFor("other")}} {
			if err := e.db.WithContext(tc.ctx).Create(&Company{Name: "Initech"}).Error; err != nil {
				t.Fatalf("Create(Company) = %v", err)
			}
		}
		var cos []Company
		if err := e.db.Order("id").Find(&cos).Error; err != nil {
			t.Fatalf("Find(Company) = %v", err)
		}
		if len(cos) != 2 || cos[0].TenantID != "solo" || cos[1].TenantID != "other" || cos[0].Name != "Initech" || cos[1].Name != "Initech" {
			t.Fatalf("Find(Company) = %+v, want both in plaintext", cos)
		}
		testhelpers.AssertNoPlaintext(t, e.raw, "companies", "name", "Initech")
	})
}

// TestShreddedTenant: after Shred a tenant's rows fail to open with
// keystore.ErrKeyDestroyed, and nothing new is written for it.
func TestShreddedTenant(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, allModels...)
		ctx := ctxFor("acme")
		p := newPatient("Ann")
		e.create(t, "acme", &p)
		if err := e.keys.Shred(context.Background(), "acme"); err != nil {
			t.Fatalf("Shred = %v", err)
		}
		var got Patient
		if err := e.db.WithContext(ctx).First(&got, p.ID).Error; !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Fatalf("First after Shred = %v, want ErrKeyDestroyed", err)
		}
		q := newPatient("Bob")
		if err := e.db.WithContext(ctx).Create(&q).Error; !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Fatalf("Create after Shred = %v, want ErrKeyDestroyed", err)
		}
	})
}

// TestSecondSerializer: two key stores on one *gorm.DB, told apart by
// the serializer name.
func TestSecondSerializer(t *testing.T) {
	type Split struct {
		ID       uint
		TenantID string `colcrypt:"tenant"`
		Main     string `gorm:"serializer:colcrypt"`
		Vault    string `gorm:"serializer:vault"`
	}
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{})
		other := newEnv(t, d, envOptions{noUse: true}) // another key store, its own database
		if err := e.db.Use(gormplugin.New(other.enc, gormplugin.WithSerializerName("vault"), gormplugin.WithoutKeyTable())); err != nil {
			t.Fatalf("Use(second plugin) = %v", err)
		}
		if err := gormplugin.AutoMigrate(other.db); err == nil {
			t.Fatalf("AutoMigrate on a DB without the plugin = nil, want ErrNoPlugin")
		}
		if err := keystoreTable(other); err != nil {
			t.Fatal(err)
		}
		if err := gormplugin.AutoMigrate(e.db, &Split{}); err != nil {
			t.Fatalf("AutoMigrate = %v", err)
		}
		ctx := ctxFor("acme")
		in := Split{Main: "main secret", Vault: "vault secret"}
		if err := e.db.WithContext(ctx).Create(&in).Error; err != nil {
			t.Fatalf("Create = %v", err)
		}
		var out Split
		tx := e.db.WithContext(ctx).First(&out, in.ID)
		if err := tx.Error; err != nil || out.Main != in.Main || out.Vault != in.Vault {
			t.Fatalf("First = %+v, %v; want both fields in plaintext", out, err)
		}
		// Both plugins swapped in schema copies; GORM's own is back.
		parsed := &gorm.Statement{DB: e.db}
		if err := parsed.Parse(&Split{}); err != nil {
			t.Fatal(err)
		}
		if tx.Statement.Schema != parsed.Schema {
			t.Fatalf("after First the statement's schema is a copy, want GORM's")
		}
		tx = e.db.WithContext(ctx).Create(&Split{Main: "m", Vault: "v"})
		if tx.Error != nil || tx.Statement.Schema != parsed.Schema {
			t.Fatalf("Create = %v; schema restored = %v", tx.Error, tx.Statement.Schema == parsed.Schema)
		}
		if e.keys.Stats().KMSWraps == 0 || other.keys.Stats().KMSWraps == 0 {
			t.Fatalf("KMS wraps: %d and %d, want each key store to have made the tenant's key", e.keys.Stats().KMSWraps, other.keys.Stats().KMSWraps)
		}
		testhelpers.AssertNoPlaintext(t, e.raw, "splits", "vault", "vault secret")
	})
}

func keystoreTable(e *env) error {
	return keystore.CreateTable(context.Background(), e.raw)
}

// TestConcurrent: goroutines of several tenants write and read one DB at
// once, under the race detector: the plugin shares its schema copies and
// caches between statements, never a statement's state.
func TestConcurrent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, allModels...)
		const goroutines, rounds = 6, 4
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- concurrentWork(e, fmt.Sprintf("t%d", g), rounds)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

func concurrentWork(e *env, tenant string, rounds int) error {
	ctx := ctxFor(tenant)
	for i := range rounds {
		co := Company{Name: fmt.Sprintf("%s-co-%d", tenant, i)}
		if err := e.db.WithContext(ctx).Create(&co).Error; err != nil {
			return fmt.Errorf("%s: Create(Company) = %w", tenant, err)
		}
		p := newPatient(fmt.Sprintf("%sp%d", tenant, i))
		p.CompanyID = &co.ID
		if err := e.db.WithContext(ctx).Create(&p).Error; err != nil {
			return fmt.Errorf("%s: Create(Patient) = %w", tenant, err)
		}
		// No context tenant: every row's own tenant, read after the
		// encrypted columns of the joined Company.
		var got []Patient
		if err := e.db.Joins("Company").Where("patients.tenant_id = ?", tenant).Order("patients.id").Find(&got).Error; err != nil {
			return fmt.Errorf("%s: Joins.Find = %w", tenant, err)
		}
		if len(got) != i+1 || got[i].Name != p.Name || got[i].Company == nil || got[i].Company.Name != co.Name {
			return fmt.Errorf("%s: Joins.Find = %d rows, last %q/%v; want %d, %q/%q", tenant, len(got), got[len(got)-1].Name, got[len(got)-1].Company, i+1, p.Name, co.Name)
		}
		var m []Patient
		if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", p.Email)).Find(&m).Error; err != nil || len(m) != 1 {
			return fmt.Errorf("%s: Match = %d rows, %v; want 1", tenant, len(m), err)
		}
	}
	return nil
}

// TestLookupReusedAcrossTenants: a chain that ran for one tenant and is
// run again under another tenant's context (GORM shares conditions
// between the statements of a chain, and keeps the conditions a scope
// added) finds the second tenant's rows, never the first's: a rewritten
// Where is rewritten afresh, also where a soft delete folded it into an
// And, and a lookup built for the first tenant (Match) is refused with
// field.ErrTenantMismatch before any SQL.
func TestLookupReusedAcrossTenants(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, append([]any{&Ticket{}}, allModels...)...)
		rec := &sqlRecorder{}
		db := e.db.Session(&gorm.Session{Logger: rec})
		acme, globex := ctxFor("acme"), ctxFor("globex")
		for _, c := range []struct {
			ctx context.Context
			n   int
		}{{acme, 3}, {globex, 1}} {
			for i := 0; i < c.n; i++ {
				if err := db.WithContext(c.ctx).Create(&Ticket{Code: "T-1"}).Error; err != nil {
					t.Fatalf("Create = %v", err)
				}
			}
		}
		count := func(q *gorm.DB) (int64, error) {
			var n int64
			err := q.Count(&n).Error
			return n, err
		}
		for name, q := range map[string]*gorm.DB{
			"Where":     db.WithContext(acme).Model(&Ticket{}).Where("code = ?", "T-1"),
			"WhereOr":   db.WithContext(acme).Model(&Ticket{}).Where("id < 0").Or("code = ?", "T-1"),
			"LoneOr":    db.WithContext(acme).Model(&Ticket{}).Or("code = ?", "T-1"),
			"StructOr":  db.WithContext(acme).Model(&Ticket{}).Where("id < 0").Or(&Ticket{Code: "T-1"}),
			"MapWhere":  db.WithContext(acme).Model(&Ticket{}).Where(map[string]any{"code": "T-1"}),
			"TwoConds":  db.WithContext(acme).Model(&Ticket{}).Where("code = ?", "T-1").Where("code IN ?", []string{"T-1"}),
			"InlineArg": db.WithContext(acme).Model(&Ticket{}).Where("code IN (?, ?)", "T-1", "T-2"),
		} {
			t.Run(name, func(t *testing.T) {
				if n, err := count(q); err != nil || n != 3 {
					t.Fatalf("Count for acme = %d, %v; want 3", n, err)
				}
				if n, err := count(q.WithContext(globex)); err != nil || n != 1 {
					t.Fatalf("the same chain's Count for globex = %d, %v; want globex's 1", n, err)
				}
				var ts []Ticket
				if err := q.WithContext(globex).Find(&ts).Error; err != nil || len(ts) != 1 || ts[0].TenantID != "globex" {
					t.Fatalf("the same chain's Find for globex = %+v, %v; want globex's ticket", ts, err)
				}
			})
		}
		t.Run("MatchForOtherTenant", func(t *testing.T) {
			for _, q := range []func() *gorm.DB{
				func() *gorm.DB {
					return db.WithContext(globex).Model(&Ticket{}).Scopes(gormplugin.Match(acme, "Code", "T-1"))
				},
				func() *gorm.DB {
					q := db.WithContext(acme).Model(&Ticket{}).Scopes(gormplugin.Match(acme, "Code", "T-1"))
					if n, err := count(q); err != nil || n != 3 {
						t.Fatalf("Match's Count for acme = %d, %v; want 3", n, err)
					}
					return q.WithContext(globex)
				},
			} {
				q := q()
				rec.reset()
				n, err := count(q)
				var fe *gormplugin.FieldError
				if !errors.Is(err, field.ErrTenantMismatch) || !errors.As(err, &fe) {
					t.Fatalf("Count under globex with acme's Match = %d, %v; want a FieldError matching ErrTenantMismatch", n, err)
				}
				if sent := rec.statements(); len(sent) != 0 {
					t.Fatalf("sent %q, want no SQL", sent)
				}
			}
		})
	})
}
