package gormplugin_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
)

// TestSharedPoolRefused: a key store on GORM's own *sql.DB, directly or
// behind GORM's prepared-statement pool, is refused by db.Use with
// ErrSharedPool, and nothing of the plugin is left installed.
func TestSharedPoolRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		dsn := d.dsn(t)
		for _, prepare := range []bool{false, true} {
			t.Run(fmt.Sprintf("PrepareStmt=%v", prepare), func(t *testing.T) {
				db, err := gorm.Open(d.gorm(dsn), &gorm.Config{Logger: logger.Discard, PrepareStmt: prepare})
				if err != nil {
					t.Fatalf("gorm.Open(%s): %v", d.name, err)
				}
				raw, err := db.DB()
				if err != nil {
					t.Fatalf("db.DB(): %v", err)
				}
				t.Cleanup(func() { raw.Close() })
				keys, err := keystore.New(raw, localKeeper(t))
				if err != nil {
					t.Fatalf("keystore.New: %v", err)
				}
				t.Cleanup(keys.Close)

				err = db.Use(gormplugin.New(field.NewEncryptor(keys)))
				if !errors.Is(err, gormplugin.ErrSharedPool) {
					t.Fatalf("Use(New(enc on GORM's pool)) = %v, want ErrSharedPool", err)
				}
				if !strings.Contains(err.Error(), "plugin colcrypt") {
					t.Fatalf("Use(...) = %q, want it to name plugin colcrypt", err)
				}
				if !strings.Contains(err.Error(), "second *sql.DB") {
					t.Errorf("Use(...) = %q, want it to say to open a second *sql.DB", err)
				}
				if _, ok := db.Config.Plugins["colcrypt"]; ok {
					t.Errorf("after a refused Use the plugin is installed")
				}
				if cb := db.Callback().Create().Get("colcrypt:before_create"); cb != nil {
					t.Errorf("after a refused Use the create callback is registered")
				}

				// The same database through a pool of the key store's own is accepted.
				own, err := keystore.New(d.keyDB(t, dsn), localKeeper(t))
				if err != nil {
					t.Fatalf("keystore.New: %v", err)
				}
				t.Cleanup(own.Close)
				if err := db.Use(gormplugin.New(field.NewEncryptor(own))); err != nil {
					t.Fatalf("Use(New(enc on its own pool)) = %v, want nil", err)
				}
			})
		}
	})
}

// TestColdTenantsSmallPools is the load that deadlocked when the key
// store shared GORM's pool: 4 connections for GORM and 4 for the key
// store, 32 goroutines, each creating a row for a tenant nobody has used
// inside db.Transaction and reading it back; then 32 goroutines reading
// those rows through a key store with an empty cache, with the result
// rows open while the keys are fetched. Everything must finish well
// within the deadline.
func TestColdTenantsSmallPools(t *testing.T) {
	const (
		workers  = 32
		conns    = 4
		deadline = 20 * time.Second
	)
	forEachDialect(t, func(t *testing.T, d dialect) {
		kek := localKeeper(t)
		e := newEnv(t, d, envOptions{kek: kek}, &Company{})
		e.raw.SetMaxOpenConns(conns)
		e.keyDB.SetMaxOpenConns(conns)

		ids := make([]uint, workers)
		run := func(name string, work func(ctx context.Context, i int) error) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			errs := make([]error, workers)
			var wg sync.WaitGroup
			for i := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = work(field.WithTenant(ctx, fmt.Sprintf("cold-%d", i)), i)
				}()
			}
			wg.Wait()
			took := time.Since(start)
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("%s: %d goroutines after %v: %v", name, workers, took, err)
			}
			if took > deadline/2 {
				t.Errorf("%s: %d goroutines took %v, want well within %v", name, workers, took, deadline)
			}
			t.Logf("%s: %d goroutines in %v", name, workers, took)
		}

		run("create", func(ctx context.Context, i int) error {
			want := fmt.Sprintf("company %d", i)
			return e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				c := Company{Name: want}
				if err := tx.Create(&c).Error; err != nil {
					return fmt.Errorf("Create: %w", err)
				}
				ids[i] = c.ID
				var got Company
				if err := tx.First(&got, c.ID).Error; err != nil {
					return fmt.Errorf("First: %w", err)
				}
				if got.Name != want {
					return fmt.Errorf("First = %q, want %q", got.Name, want)
				}
				return nil
			})
		})
		// One new key per tenant, and the key audit trail's chain key.
		if n := e.keys.Stats().KMSWraps; n != workers+1 {
			t.Fatalf("KMS wraps = %d, want %d: one new key per tenant and the audit chain key", n, workers+1)
		}

		// A second process: a key store with an empty cache (on its own
		// pool of 4) and GORM on the same 4 connections.
		cold, err := keystore.New(e.keyDB, kek)
		if err != nil {
			t.Fatalf("keystore.New: %v", err)
		}
		t.Cleanup(cold.Close)
		db, err := gorm.Open(d.reuse(e.raw), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatalf("gorm.Open(%s): %v", d.name, err)
		}
		if err := db.Use(gormplugin.New(field.NewEncryptor(cold))); err != nil {
			t.Fatalf("db.Use: %v", err)
		}
		run("read", func(ctx context.Context, i int) error {
			return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				var got []Company
				if err := tx.Find(&got, ids[i]).Error; err != nil {
					return fmt.Errorf("Find: %w", err)
				}
				if want := fmt.Sprintf("company %d", i); len(got) != 1 || got[0].Name != want {
					return fmt.Errorf("Find = %+v, want one row named %q", got, want)
				}
				return nil
			})
		})
		if n := cold.Stats().KMSUnwraps; n != workers {
			t.Fatalf("KMS unwraps = %d, want %d: one per cold tenant", n, workers)
		}
	})
}

// TestCreateFetchesKeyBeforeTransaction: a Create for new tenants has
// their keys created, and wrapped by the KMS, before GORM's transaction
// takes a connection, so a slow KMS holds no database connection.
func TestCreateFetchesKeyBeforeTransaction(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		var (
			gormPool atomic.Pointer[sql.DB]
			wraps    atomic.Int64
			held     atomic.Int64 // wraps made while GORM's pool had a connection in use
		)
		observe := keystore.WithTelemetry(keystore.Telemetry{Observer: func(ev keystore.Event) {
			if ev.Kind != "wrap" {
				return
			}
			wraps.Add(1)
			if db := gormPool.Load(); db != nil && db.Stats().InUse > 0 {
				held.Add(1)
			}
		}})
		e := newEnv(t, d, envOptions{keyOpts: []keystore.Option{observe}}, &Company{})
		gormPool.Store(e.raw)

		if err := e.db.WithContext(ctxFor("first")).Create(&Company{Name: "one row"}).Error; err != nil {
			t.Fatalf("Create = %v", err)
		}
		rows := []Company{{Name: "a", TenantID: "second"}, {Name: "b", TenantID: "third"}, {Name: "c", TenantID: "second"}}
		if err := e.db.Create(&rows).Error; err != nil {
			t.Fatalf("Create(3 rows, 2 tenants) = %v", err)
		}
		if got := wraps.Load(); got != 4 {
			t.Fatalf("KMS wraps = %d, want 4 (one per new tenant, one for the audit chain key)", got)
		}
		if got := held.Load(); got != 0 {
			t.Errorf("%d of 3 KMS wraps ran while GORM held a connection, want 0", got)
		}
		var got []Company
		if err := e.db.WithContext(ctxFor("second")).Where("tenant_id = ?", "second").Order("id").Find(&got).Error; err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
			t.Fatalf("Find(second) = %+v, %v; want rows a and c", got, err)
		}
	})
}
