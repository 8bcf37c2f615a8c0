package keystore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// Master key rotation: a Store unwraps only with the master keys it was
// given, so the old key is configured with WithMasterKeys until Rewrap
// has moved every data key to the new one.
func ExampleWithMasterKeys() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keystore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "master.keys")
	open := func(id string) *kms.Keeper {
		if err := localkms.GenerateKeyFile(keyFile, id); err != nil {
			log.Fatal(err)
		}
		k, err := kms.Open(ctx, localkms.FileURL(keyFile, id))
		if err != nil {
			log.Fatal(err)
		}
		return k
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
		log.Fatal(err)
	}
	store := func(kek *kms.Keeper, opts ...keystore.Option) *keystore.Store {
		s, err := keystore.New(db, kek, opts...)
		if err != nil {
			log.Fatal(err)
		}
		return s
	}

	oldKEK := open("k1")
	defer oldKEK.Close()
	before := store(oldKEK)
	if _, err := before.Active(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	before.Close()

	newKEK := open("k2")
	defer newKEK.Close()
	only := store(newKEK)
	defer only.Close()
	_, err = only.Active(ctx, "acme")
	fmt.Println("new key only:", errors.Is(err, keystore.ErrUnknownMasterKey))

	during := store(newKEK, keystore.WithMasterKeys(oldKEK))
	defer during.Close()
	_, err = during.Active(ctx, "acme")
	fmt.Println("old key configured:", err)
	res, err := during.Rewrap(ctx, newKEK, keystore.RewrapOptions{})
	fmt.Println("rewrapped:", res.Rewrapped, err)

	after := store(newKEK)
	defer after.Close()
	_, err = after.Active(ctx, "acme")
	fmt.Println("new key only, after rewrap:", err)
	// Output:
	// new key only: true
	// old key configured: <nil>
	// rewrapped: 1 <nil>
	// new key only, after rewrap: <nil>
}
