package keystore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// Two processes on one key table (here two Stores, each on its own pool):
// the one opened WithKeyEvents refuses a tenant the other shredded within
// its poll interval, though its cache TTL is an hour. On Postgres it is
// told at once, by LISTEN/NOTIFY.
func ExampleWithKeyEvents() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keystore-events")
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
	var pools []*sql.DB
	defer func() {
		for _, db := range pools {
			db.Close()
		}
	}()
	open := func(opts ...keystore.Option) *keystore.Store { // a process's own pool and Store
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			log.Fatal(err)
		}
		pools = append(pools, db)
		if err := keystore.CreateTable(ctx, db, keystore.WithDialect("sqlite")); err != nil {
			log.Fatal(err)
		}
		keys, err := keystore.New(db, kek, opts...)
		if err != nil {
			log.Fatal(err)
		}
		return keys
	}
	admin := open()
	defer admin.Close()
	app := open(keystore.WithTuning(keystore.Tuning{CacheTTL: time.Hour}), keystore.WithKeyEvents(50*time.Millisecond))
	defer app.Close()

	c, err := app.ActiveCipher(ctx, "acme", "patients", "name")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the application seals under version", c.Version())
	if err := admin.Shred(ctx, "acme"); err != nil {
		log.Fatal(err)
	}
	for {
		_, err := app.ActiveCipher(ctx, "acme", "patients", "name")
		if errors.Is(err, keystore.ErrKeyDestroyed) {
			fmt.Println("the application refuses acme:", err)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = c.Seal(nil, []byte("Ann Example"))
	fmt.Println("the cipher it held:", err)
	// Output:
	// the application seals under version 1
	// the application refuses acme: keystore: key destroyed: tenant "acme"
	// the cipher it held: codec: cipher destroyed
}
