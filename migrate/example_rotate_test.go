package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/migrate"
)

// Rotating a tenant's key and ending the use of the old version: Rotate
// makes new values use version 2 while version 1 still opens the old
// ones; a Reencrypt job moves every value to version 2 in place; Verify
// shows no value left on version 1; then DestroyVersion erases it. (The
// CLI: colcrypt keys rotate, migrate reencrypt, migrate verify, keys
// destroy-version.)
func Example_rotate() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "colcrypt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, localkms.FileURL(keyFile, "k1"))
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}
	keys, err := keystore.New(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	enc := field.NewEncryptor(keys)

	// Two values written by the application under version 1.
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, email BLOB)`); err != nil {
		log.Fatal(err)
	}
	email := field.Scope{Tenant: "acme", Table: "users", Column: "email"}
	for id, addr := range []string{"ann@acme.example", "bob@acme.example"} {
		v, err := enc.Seal(ctx, email, []byte(addr))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO users VALUES (?, 'acme', ?)`, id+1, v); err != nil {
			log.Fatal(err)
		}
	}

	v, err := keys.Rotate(ctx, "acme")
	fmt.Println("rotated to version", v, err)

	m, err := migrate.New(db, enc)
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Run(ctx, migrate.Job{
		Kind: migrate.Reencrypt, Table: "users", Column: "email", TenantColumn: "tenant_id",
	}, migrate.RunOptions{})
	fmt.Printf("reencrypted %d rows: %v\n", res.Updated, err)

	rep, err := m.Verify(ctx, migrate.Job{Table: "users", Column: "email", TenantColumn: "tenant_id"}, migrate.RunOptions{})
	if err != nil && !errors.Is(err, migrate.ErrRowsFailed) {
		log.Fatal(err)
	}
	fmt.Printf("verify: ok=%v on key versions %v\n", err == nil, rep.Versions)

	fmt.Println("destroy version 1:", keys.DestroyVersion(ctx, "acme", 1))
	var stored []byte
	if err := db.QueryRow(`SELECT email FROM users WHERE id = 1`).Scan(&stored); err != nil {
		log.Fatal(err)
	}
	plain, err := enc.Open(ctx, email, stored)
	fmt.Printf("still opens: %s %v\n", plain, err)
	// Output:
	// rotated to version 2 <nil>
	// reencrypted 2 rows: <nil>
	// verify: ok=true on key versions map[2:2]
	// destroy version 1: <nil>
	// still opens: ann@acme.example <nil>
}
