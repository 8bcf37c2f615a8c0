package gormplugin_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// Customer is the example's model: a tenant column, a randomized name, an
// email found through a blind index, a deterministic tax id.
type Customer struct {
	ID        uint
	TenantID  string `colcrypt:"tenant"`
	Name      string `gorm:"serializer:colcrypt"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte `gorm:"index"`
	TaxID     string `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
}

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "colcrypt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A local master key stands in for Cloud KMS (gcpkms://...).
	keyFile := filepath.Join(dir, "master.key")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, "local://"+keyFile+"?id=k1")
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()

	dsn := filepath.Join(dir, "app.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	// The key store gets a pool of its own on the same database: on
	// GORM's, a key-store miss could wait for a connection GORM holds
	// (db.Use refuses that set-up with gormplugin.ErrSharedPool).
	keyDB, err := sql.Open(sqlite.DriverName, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer keyDB.Close()
	keys, err := keystore.New(keyDB, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()

	if err := db.Use(gormplugin.New(field.NewEncryptor(keys))); err != nil {
		log.Fatal(err)
	}
	// Creates the key table and blob columns for the encrypted fields.
	if err := gormplugin.AutoMigrate(db, &Customer{}); err != nil {
		log.Fatal(err)
	}

	ctx = field.WithTenant(ctx, "acme")
	ann := Customer{Name: "Ann Lee", Email: "ann@example.com", TaxID: "DE123"}
	if err := db.WithContext(ctx).Create(&ann).Error; err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Create:", ann.Name, ann.TenantID)

	var found []Customer
	err = db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", " ANN@example.com")).Find(&found).Error
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Match(Email):", found[0].Name, found[0].TaxID)

	// Equality written the usual way becomes the same index lookup;
	// what would compare ciphertext is refused before any SQL.
	var byTaxID Customer
	if err := db.WithContext(ctx).First(&byTaxID, "tax_id = ?", "DE123").Error; err != nil {
		log.Fatal(err)
	}
	fmt.Println(`First(&c, "tax_id = ?"):`, byTaxID.Name)
	err = db.WithContext(ctx).Where("email LIKE ?", "ann%").Find(&found).Error
	fmt.Println("LIKE refused:", errors.Is(err, gormplugin.ErrUnsearchable))

	var stored []byte
	if err := sqlDB.QueryRow("SELECT name FROM customers").Scan(&stored); err != nil {
		log.Fatal(err)
	}
	fmt.Println("plaintext in the table:", bytes.Contains(stored, []byte("Ann")))
	// Output:
	// after Create: Ann Lee acme
	// Match(Email): Ann Lee DE123
	// First(&c, "tax_id = ?"): Ann Lee
	// LIKE refused: true
	// plaintext in the table: false
}
