package field_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // "sqlite"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// exampleSetup is what an application does once at start-up: open the
// master key (a development key file here, a Cloud KMS URL in production),
// open the database that holds the key table, and build one Encryptor.
// The examples keep both in a temporary directory, so they run anywhere;
// cleanup removes it.
func exampleSetup(ctx context.Context, opts ...field.Option) (enc *field.Encryptor, keys *keystore.Store, cleanup func()) {
	dir, err := os.MkdirTemp("", "field-example")
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
	keys, err = keystore.New(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	return field.NewEncryptor(keys, opts...), keys, func() {
		keys.Close()
		db.Close()
		kek.Close()
		os.RemoveAll(dir)
	}
}

// The Encryptor is the engine under every integration: it seals a
// plaintext for a Scope (tenant, table, column) under the tenant's active
// key and opens it again. The scope is part of the value's associated
// data, so a value copied to another column, or read as another tenant,
// does not open.
func Example() {
	ctx := context.Background()
	enc, _, cleanup := exampleSetup(ctx)
	defer cleanup()

	ssn := field.Scope{Tenant: "acme", Table: "patients", Column: "ssn"}
	stored, err := enc.Seal(ctx, ssn, []byte("123-45-6789"))
	if err != nil {
		log.Fatal(err)
	}
	// stored is what goes into the column: a versioned colcrypt value,
	// never the plaintext.
	fmt.Println("colcrypt value:", codec.IsValue(stored), "holds plaintext:", bytes.Contains(stored, []byte("123-45-6789")))

	plain, err := enc.Open(ctx, ssn, stored)
	fmt.Printf("opened: %s %v\n", plain, err)

	// The same bytes under another column or tenant fail like a tampered
	// value: one error for every cause.
	_, err = enc.Open(ctx, field.Scope{Tenant: "acme", Table: "patients", Column: "name"}, stored)
	fmt.Println("other column:", errors.Is(err, codec.ErrAuth))
	_, err = enc.Open(ctx, field.Scope{Tenant: "globex", Table: "patients", Column: "ssn"}, stored)
	fmt.Println("other tenant:", errors.Is(err, codec.ErrAuth))

	// A column not yet migrated holds plaintext: Open says so, naming the
	// column, rather than returning it.
	_, err = enc.Open(ctx, ssn, []byte("123-45-6789"))
	fmt.Println("plaintext:", errors.Is(err, field.ErrNotEncrypted))
	// Output:
	// colcrypt value: true holds plaintext: false
	// opened: 123-45-6789 <nil>
	// other column: true
	// other tenant: true
	// plaintext: true
}

// A web request carries its tenant in the context: a Scope without a
// Tenant uses it, and a row that names another tenant is refused, so a
// request for one customer never reads or writes another's data.
func ExampleWithTenant() {
	ctx := context.Background()
	enc, _, cleanup := exampleSetup(ctx)
	defer cleanup()

	reqCtx := field.WithTenant(ctx, "acme") // set once, by middleware
	note := field.Scope{Table: "patients", Column: "note"}
	stored, err := enc.Seal(reqCtx, note, []byte("allergic to penicillin"))
	if err != nil {
		log.Fatal(err)
	}
	plain, err := enc.Open(reqCtx, field.Scope{Tenant: "acme", Table: "patients", Column: "note"}, stored)
	fmt.Printf("sealed for the context's tenant: %s %v\n", plain, err)

	_, err = enc.Seal(reqCtx, field.Scope{Tenant: "globex", Table: "patients", Column: "note"}, []byte("x"))
	fmt.Println("row of another tenant:", errors.Is(err, field.ErrTenantMismatch))

	_, err = enc.Seal(ctx, note, []byte("x"))
	fmt.Println("no tenant anywhere:", errors.Is(err, field.ErrNoTenant))
	// Output:
	// sealed for the context's tenant: allergic to penicillin <nil>
	// row of another tenant: true
	// no tenant anywhere: true
}

// A single-tenant application names its one tenant once, instead of in
// every row or context.
func ExampleWithFixedTenant() {
	ctx := context.Background()
	enc, _, cleanup := exampleSetup(ctx, field.WithFixedTenant("default"))
	defer cleanup()

	email := field.Scope{Table: "users", Column: "email"}
	stored, err := enc.Seal(ctx, email, []byte("ann@example.com"))
	if err != nil {
		log.Fatal(err)
	}
	plain, err := enc.Open(ctx, email, stored)
	fmt.Printf("%s %v\n", plain, err)
	// The fixed tenant is the tenant: a request naming it reads the value.
	plain, err = enc.Open(field.WithTenant(ctx, "default"), email, stored)
	fmt.Printf("%s %v\n", plain, err)
	// Output:
	// ann@example.com <nil>
	// ann@example.com <nil>
}

// A blind index finds a randomized column by equality: store the index
// beside the value, and query with it. It is taken under the tenant's
// index key, which a data-key rotation does not change, so a lookup is
// one value and a UNIQUE constraint on the index column keeps holding.
func ExampleEncryptor_BlindIndex() {
	ctx := context.Background()
	enc, keys, cleanup := exampleSetup(ctx)
	defer cleanup()

	email := field.Scope{Tenant: "acme", Table: "users", Column: "email"}
	bidx, err := field.NewBlindIndex("email_bidx", 16, "trim", "lower")
	if err != nil {
		log.Fatal(err)
	}
	// On insert: the sealed value and its index, in two columns.
	if _, err := enc.Seal(ctx, email, []byte("Ann@Example.com")); err != nil {
		log.Fatal(err)
	}
	idx, err := enc.BlindIndex(ctx, email, bidx, []byte("Ann@Example.com"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("index bytes:", len(idx))

	if _, err := keys.Rotate(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	// On lookup: WHERE email_bidx IN (candidates...). The normalizers make
	// the query match however the address was typed.
	cands, err := enc.BlindIndexCandidates(ctx, email, bidx, []byte("  ann@EXAMPLE.com "))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("candidates:", len(cands))
	fmt.Println("old row found:", bytes.Equal(cands[0], idx))
	// Output:
	// index bytes: 16
	// candidates: 1
	// old row found: true
}

// A deterministic column gives equal values for equal plaintexts under one
// key version, so SQL equality finds them; after a rotation a query
// matches any of the live versions' values.
func ExampleEncryptor_DeterministicCandidates() {
	ctx := context.Background()
	enc, keys, cleanup := exampleSetup(ctx)
	defer cleanup()

	ssn := field.Scope{Tenant: "acme", Table: "patients", Column: "ssn"}
	a, _ := enc.SealDeterministic(ctx, ssn, []byte("123-45-6789"))
	b, _ := enc.SealDeterministic(ctx, ssn, []byte("123-45-6789"))
	fmt.Println("equal values:", bytes.Equal(a, b))

	if _, err := keys.Rotate(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	cands, err := enc.DeterministicCandidates(ctx, ssn, []byte("123-45-6789"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("candidates:", len(cands), "old value among them:", bytes.Equal(cands[1], a))
	// Output:
	// equal values: true
	// candidates: 2 old value among them: true
}

// Row binding: a value of a bound column opens only with its own row's
// key, so a value copied into another row of the same tenant and column
// is refused.
func ExampleEncryptor_SealRow() {
	ctx := context.Background()
	enc, _, cleanup := exampleSetup(ctx)
	defer cleanup()

	salary := field.Scope{Tenant: "acme", Table: "employees", Column: "salary"}
	// The row key is known before the insert: a UUID or natural key.
	row := "6f1c2a9e-0000-0000-0000-000000000001"
	stored, err := enc.SealRow(ctx, salary, field.Randomized, row, []byte("98000"))
	if err != nil {
		log.Fatal(err)
	}
	plain, err := enc.OpenRow(ctx, salary, row, stored)
	fmt.Printf("own row: %s %v\n", plain, err)

	_, err = enc.OpenRow(ctx, salary, "another-row", stored)
	fmt.Println("copied to another row:", errors.Is(err, codec.ErrAuth))
	_, err = enc.Open(ctx, salary, stored)
	fmt.Println("read unbound:", errors.Is(err, codec.ErrAuth))
	_, err = enc.SealRow(ctx, salary, field.Randomized, "", []byte("98000"))
	fmt.Println("no row key:", errors.Is(err, field.ErrNoRowKey))
	// Output:
	// own row: 98000 <nil>
	// copied to another row: true
	// read unbound: true
	// no row key: true
}

// KeyVersion reads which key version sealed a stored value without
// opening it: how a migration or an audit finds the rows a rotation left
// on an old key.
func ExampleKeyVersion() {
	ctx := context.Background()
	enc, keys, cleanup := exampleSetup(ctx)
	defer cleanup()

	s := field.Scope{Tenant: "acme", Table: "patients", Column: "ssn"}
	old, _ := enc.Seal(ctx, s, []byte("123-45-6789"))
	if _, err := keys.Rotate(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	cur, _ := enc.Seal(ctx, s, []byte("123-45-6789"))
	v1, _ := field.KeyVersion(old)
	v2, _ := field.KeyVersion(cur)
	fmt.Println(v1, v2)
	// Output: 1 2
}
