package keystore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// exampleStore opens a key table on SQLite and a development master key,
// both in a temporary directory that cleanup removes.
func exampleStore(ctx context.Context, opts ...keystore.Option) (keys *keystore.Store, cleanup func()) {
	dir, err := os.MkdirTemp("", "keystore-example")
	if err != nil {
		log.Fatal(err)
	}
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, localkms.FileURL(keyFile, "k1"))
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}
	keys, err = keystore.New(db, kek, opts...)
	if err != nil {
		log.Fatal(err)
	}
	return keys, func() {
		keys.Close()
		db.Close()
		kek.Close()
		os.RemoveAll(dir)
	}
}

// Ending the use of one old key version (one that may have been exposed)
// without shredding the tenant: rotate, move the values to the new version
// (migrate reencrypt), then destroy the old one. The version new values
// are sealed under cannot be destroyed.
func ExampleStore_DestroyVersion() {
	ctx := context.Background()
	keys, cleanup := exampleStore(ctx)
	defer cleanup()

	if _, err := keys.Active(ctx, "acme"); err != nil { // version 1
		log.Fatal(err)
	}
	if _, err := keys.Rotate(ctx, "acme"); err != nil { // version 2
		log.Fatal(err)
	}
	// ... colcrypt migrate reencrypt moves every value to version 2 ...

	err := keys.DestroyVersion(ctx, "acme", 2)
	fmt.Println("destroy the active version:", errors.Is(err, keystore.ErrVersionInUse))
	fmt.Println("destroy version 1:", keys.DestroyVersion(ctx, "acme", 1))

	_, err = keys.Cipher(ctx, "acme", 1, "patients", "name")
	fmt.Println("version 1 opens nothing:", errors.Is(err, keystore.ErrKeyDestroyed))
	v, err := keys.Active(ctx, "acme")
	fmt.Println("active version:", v, err)

	infos, err := keys.List(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	for _, ki := range infos {
		fmt.Println(ki.Tenant, ki.Version, ki.State)
	}
	// Output:
	// destroy the active version: true
	// destroy version 1: <nil>
	// version 1 opens nothing: true
	// active version: 2 <nil>
	// acme 1 destroyed
	// acme 2 active
}

// Where tenant ids come from requests, a Store should not create a key for
// any string it is given: with TenantPolicy.KnownOnly only tenants made known
// by InitTenant (or "colcrypt keys init --tenant") get keys, and any
// other fails before a KMS call or a write.
func ExampleTenantPolicy() {
	ctx := context.Background()
	keys, cleanup := exampleStore(ctx, keystore.WithTenantPolicy(keystore.TenantPolicy{KnownOnly: true}))
	defer cleanup()

	_, err := keys.Active(ctx, "acme")
	fmt.Println("before InitTenant:", errors.Is(err, keystore.ErrUnknownTenant))

	if err := keys.InitTenant(ctx, "acme"); err != nil { // at sign-up
		log.Fatal(err)
	}
	v, err := keys.Active(ctx, "acme")
	fmt.Println("after InitTenant: version", v, err)

	_, err = keys.Active(ctx, "acme' OR 1=1 --")
	fmt.Println("a tenant id from a forged request:", errors.Is(err, keystore.ErrUnknownTenant))

	tenants, err := keys.Tenants(ctx)
	fmt.Println("tenants with keys:", tenants, err)
	// Output:
	// before InitTenant: true
	// after InitTenant: version 1 <nil>
	// a tenant id from a forged request: true
	// tenants with keys: [acme] <nil>
}

// A validator decides which tenants may get a first key, by the
// application's own rule (a lookup in its tenants table, say); a refusal
// is ErrUnknownTenant wrapping the validator's error.
func ExampleTenantPolicy_validate() {
	ctx := context.Background()
	errNoSuchCustomer := errors.New("no such customer")
	keys, cleanup := exampleStore(ctx, keystore.WithTenantPolicy(keystore.TenantPolicy{Validate: func(ctx context.Context, tenant string) error {
		if !strings.HasPrefix(tenant, "cust-") {
			return errNoSuchCustomer
		}
		return nil
	}}))
	defer cleanup()

	_, err := keys.Active(ctx, "cust-42")
	fmt.Println("cust-42:", err)
	_, err = keys.Active(ctx, "admin")
	fmt.Println("admin:", errors.Is(err, keystore.ErrUnknownTenant), errors.Is(err, errNoSuchCustomer))
	// Output:
	// cust-42: <nil>
	// admin: true true
}

// A configured minimum version holds against the key table: after the
// tenant's values are re-encrypted under version 2, a minimum of 2 makes
// version 1 useless even if someone edits its row back to life. The
// minimum is read when a key is loaded, so a Store started with it (after
// a restart, say) honours it at once.
func ExampleTenantPolicy_minVersion() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keystore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, localkms.FileURL(keyFile, "k1"))
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}

	before, err := keystore.New(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := before.Active(ctx, "acme"); err != nil { // version 1
		log.Fatal(err)
	}
	if _, err := before.Rotate(ctx, "acme"); err != nil { // version 2
		log.Fatal(err)
	}
	// ... colcrypt migrate reencrypt moves every value to version 2 ...
	before.Close()

	keys, err := keystore.New(db, kek, keystore.WithTenantPolicy(keystore.TenantPolicy{MinVersion: func(tenant string) uint32 { return 2 }}))
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	_, err = keys.Cipher(ctx, "acme", 1, "patients", "name")
	fmt.Println("version 1:", errors.Is(err, keystore.ErrVersionTooOld))
	v, err := keys.Active(ctx, "acme")
	fmt.Println("active version:", v, err)

	// A new tenant's first key starts at the minimum.
	v, err = keys.Active(ctx, "globex")
	fmt.Println("globex starts at version:", v, err)
	// Output:
	// version 1: true
	// active version: 2 <nil>
	// globex starts at version: 2 <nil>
}
