package sqltypes_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// exampleEncryptor opens a SQLite database and a local master key in dir,
// creates the key table and returns an Encryptor: what an application
// does once at start-up (with a Cloud KMS URL in production).
func exampleEncryptor(ctx context.Context, dir string) (*sql.DB, *field.Encryptor) {
	keyFile := filepath.Join(dir, "master.key")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, "local://"+keyFile+"?id=k1")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}
	keys, err := keystore.New(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	return db, field.NewEncryptor(keys)
}

func ExampleColumn() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "colcrypt-example")
	defer os.RemoveAll(dir)
	db, enc := exampleEncryptor(ctx, dir)
	defer db.Close()

	if _, err := db.Exec(`CREATE TABLE patients (id INTEGER PRIMARY KEY, tenant_id TEXT, ssn BLOB, note BLOB)`); err != nil {
		log.Fatal(err)
	}
	ssn := sqltypes.NewColumn[string](enc, "patients", "ssn")
	note := sqltypes.NewColumn[*string](enc, "patients", "note") // nullable

	_, err := db.ExecContext(ctx, `INSERT INTO patients (id, tenant_id, ssn, note) VALUES (?, ?, ?, ?)`,
		1, "acme", ssn.Value(ctx, "acme", "123-45-6789"), note.Value(ctx, "acme", nil))
	if err != nil {
		log.Fatal(err)
	}

	var raw []byte
	db.QueryRow(`SELECT ssn FROM patients WHERE id = 1`).Scan(&raw)
	fmt.Printf("stored: %d bytes, colcrypt value: %v\n", len(raw), codec.IsValue(raw))

	var out string
	var n *string
	err = db.QueryRowContext(ctx, `SELECT ssn, note FROM patients WHERE id = 1`).
		Scan(ssn.Scan(ctx, "acme", &out), note.Scan(ctx, "acme", &n))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ssn:", out)
	fmt.Println("note is NULL:", n == nil)

	// The same value read as another tenant does not open.
	err = db.QueryRowContext(ctx, `SELECT ssn FROM patients WHERE id = 1`).Scan(ssn.Scan(ctx, "globex", &out))
	fmt.Println(errors.Is(err, codec.ErrAuth))
	// Output:
	// stored: 42 bytes, colcrypt value: true
	// ssn: 123-45-6789
	// note is NULL: true
	// true
}

func ExampleColumn_Match() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "colcrypt-example")
	defer os.RemoveAll(dir)
	db, enc := exampleEncryptor(ctx, dir)
	defer db.Close()

	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email BLOB, email_bidx BLOB)`); err != nil {
		log.Fatal(err)
	}
	email := sqltypes.NewColumn[string](enc, "users", "email", sqltypes.WithTag("blindindex:email_bidx,normalize:lower+trim"))
	ctx = field.WithTenant(ctx, "acme") // the request's tenant, for every call below

	for id, addr := range []string{"Ann@Example.com", "bob@example.com"} {
		idx, err := email.BlindIndex(ctx, "", addr)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO users VALUES (?, ?, ?)`, id, email.Value(ctx, "", addr), idx); err != nil {
			log.Fatal(err)
		}
	}

	// One candidate per live key version; SQLite has no arrays, so one
	// placeholder each (Postgres: WHERE email_bidx = ANY($1)).
	cands, err := email.Match(ctx, "", "  ann@example.com")
	if err != nil {
		log.Fatal(err)
	}
	var found string
	err = db.QueryRowContext(ctx, `SELECT email FROM users WHERE email_bidx IN (?)`, cands[0]).Scan(email.Scan(ctx, "", &found))
	fmt.Println(found, err)
	// Output:
	// Ann@Example.com <nil>
}
