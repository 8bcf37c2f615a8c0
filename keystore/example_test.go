package keystore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// The key table's life: first use creates a tenant's key, rotation adds a
// version while the old one still opens old values, shredding destroys
// them all. (localkms is a development master key; use a cloud KMS for
// real data.)
func Example() {
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

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}
	keys, err := keystore.New(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()

	c, err := keys.ActiveCipher(ctx, "acme", "patients", "name") // creates version 1
	if err != nil {
		log.Fatal(err)
	}
	sealed, _ := c.Seal(nil, []byte("Ann Example"))
	fmt.Println("sealed under version", c.Version(), "printed as", c)

	v, err := keys.Rotate(ctx, "acme")
	if err != nil {
		log.Fatal(err)
	}
	oc, err := keys.Cipher(ctx, "acme", 1, "patients", "name")
	if err != nil {
		log.Fatal(err)
	}
	name, err := oc.Open(nil, sealed)
	fmt.Printf("rotated to version %d; version 1 still opens: %s %v\n", v, name, err)

	if err := keys.Shred(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	_, err = keys.Cipher(ctx, "acme", 1, "patients", "name")
	fmt.Println("after shred:", errors.Is(err, keystore.ErrKeyDestroyed))

	infos, _ := keys.List(ctx, "acme")
	for _, ki := range infos {
		fmt.Println(ki.Tenant, ki.Version, ki.State)
	}
	// Output:
	// sealed under version 1 printed as [redacted]
	// rotated to version 2; version 1 still opens: Ann Example <nil>
	// after shred: true
	// acme 1 destroyed
	// acme 2 destroyed
}
