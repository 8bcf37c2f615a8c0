// Command multitenant runs colcrypt the way a multi-tenant SaaS backend
// does: GORM on Postgres, data keys wrapped by a Cloud KMS key, one tenant's
// key rotated and another tenant crypto-shredded.
//
//	go run ./examples/multitenant -dsn postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	go run ./examples/multitenant -dsn … -kms gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//
// Without -kms it starts colcrypt's in-process fake Cloud KMS server
// (testhelpers/insecurefakekms, insecure by design) and talks to it with
// the real Cloud KMS client over gRPC, so it runs with no cloud account.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the key store's pool
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // gcpkms:// URLs
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// Patient is the application's model. Only the tags are colcrypt's.
type Patient struct {
	ID        uint
	TenantID  string `colcrypt:"tenant"`
	Name      string `gorm:"serializer:colcrypt"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte `gorm:"index"`
	SSN       string `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
}

// TableName keeps the example's table apart from an application's.
func (Patient) TableName() string { return "multitenant_patients" }

const keyTable = "multitenant_keys"

func main() {
	dsn := flag.String("dsn", os.Getenv("COLCRYPT_DSN"), "Postgres URL")
	kekURL := flag.String("kms", "", "Cloud KMS key URL (default: the in-process fake server)")
	flag.Parse()
	if *dsn == "" {
		log.Fatal("multitenant example: -dsn (or COLCRYPT_DSN) is required")
	}
	if err := run(context.Background(), os.Stdout, *dsn, *kekURL); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer, dsn, kekURL string) error {
	var fake *insecurefakekms.Server
	if kekURL == "" {
		var err error
		if fake, err = insecurefakekms.New(insecurefakekms.DefaultKeyName); err != nil {
			return err
		}
		defer fake.Close()
		kekURL = fake.KeyURI(insecurefakekms.DefaultKeyName)
		fmt.Fprintln(w, "master key: the in-process fake Cloud KMS (insecure, for the example)")
	}
	kek, err := kms.Open(ctx, kekURL)
	if err != nil {
		return err
	}
	defer kek.Close()

	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	// The fake server forgets its keys when it stops, so the example's
	// tables start empty on every run.
	if err := db.Exec(`DROP TABLE IF EXISTS multitenant_patients, ` + keyTable).Error; err != nil {
		return err
	}

	// The key store gets a pool of its own on the same database. A GORM
	// statement holds a connection (a transaction, open result rows)
	// while the plugin asks for a key; on a cache miss the key store needs
	// one too, and on a shared, bounded pool those waits deadlock. db.Use
	// refuses a key store on GORM's pool (gormplugin.ErrSharedPool).
	keyDB, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer keyDB.Close()
	keyDB.SetMaxOpenConns(4)
	keys, err := keystore.New(keyDB, kek, keystore.WithTable(keyTable))
	if err != nil {
		return err
	}
	defer keys.Close()
	enc := field.NewEncryptor(keys)
	if err := db.Use(gormplugin.New(enc, gormplugin.WithKeyTable(keyTable))); err != nil {
		return err
	}
	// Creates bytea columns for the encrypted fields, and the key table.
	if err := gormplugin.AutoMigrate(db, &Patient{}); err != nil {
		return err
	}

	// Each request carries its tenant; rows of other tenants are refused.
	acme := field.WithTenant(ctx, "acme")
	globex := field.WithTenant(ctx, "globex")
	for _, p := range []struct {
		ctx context.Context
		p   Patient
	}{
		{acme, Patient{Name: "Ann Archer", Email: "ann@example.com", SSN: "123-45-6789"}},
		{acme, Patient{Name: "Bob Baker", Email: "bob@example.com", SSN: "987-65-4321"}},
		{globex, Patient{Name: "Gil Grant", Email: "gil@example.org", SSN: "555-55-5555"}},
	} {
		if err := db.WithContext(p.ctx).Create(&p.p).Error; err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "stored 3 patients for 2 tenants")

	// Rotate acme's data key: new rows use version 2, old rows still open.
	v, err := keys.Rotate(ctx, "acme")
	if err != nil {
		return err
	}
	if err := db.WithContext(acme).Create(&Patient{Name: "Cat Cole", Email: "cat@example.com", SSN: "111-22-3333"}).Error; err != nil {
		return err
	}
	var ps []Patient
	if err := db.WithContext(acme).Where("tenant_id = ?", "acme").Order("id").Find(&ps).Error; err != nil {
		return err
	}
	fmt.Fprintf(w, "acme rotated to key version %d; acme's patients:", v)
	for _, p := range ps {
		fmt.Fprintf(w, " %s", p.Name)
	}
	fmt.Fprintln(w)

	// Lookups by blind index cover every live key version.
	var bob Patient
	if err := db.WithContext(acme).Scopes(gormplugin.Match(acme, "Email", " BOB@example.com")).First(&bob).Error; err != nil {
		return err
	}
	fmt.Fprintf(w, "found by email across versions: %s (SSN %s)\n", bob.Name, bob.SSN)

	// Shred globex: its rows can never be read again, acme's are untouched.
	if err := keys.Shred(ctx, "globex"); err != nil {
		return err
	}
	var gil Patient
	err = db.WithContext(globex).Where("tenant_id = ?", "globex").First(&gil).Error
	fmt.Fprintf(w, "globex after shredding: %v (key destroyed: %t)\n", err, errors.Is(err, keystore.ErrKeyDestroyed))
	var ann Patient
	if err := db.WithContext(acme).Where("tenant_id = ?", "acme").Order("id").First(&ann).Error; err != nil {
		return err
	}
	fmt.Fprintf(w, "acme after shredding globex: %s\n", ann.Name)

	st := keys.Stats()
	fmt.Fprintf(w, "KMS calls: %d wraps, %d unwraps", st.KMSWraps, st.KMSUnwraps)
	if fake != nil {
		enc, dec := fake.Calls()
		fmt.Fprintf(w, " (fake server counted %d Encrypt, %d Decrypt)", enc, dec)
	}
	fmt.Fprintln(w)
	return nil
}
