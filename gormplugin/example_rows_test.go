package gormplugin_test

import (
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

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// exampleDB opens GORM on SQLite with the plugin installed, the key store
// on a pool of its own, and a development master key, all in a temporary
// directory that cleanup removes. The package Example shows the same
// set-up step by step.
func exampleDB(ctx context.Context) (db *gorm.DB, cleanup func()) {
	dir, err := os.MkdirTemp("", "colcrypt-example")
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
	dsn := filepath.Join(dir, "app.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err = gorm.Open(sqlite.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		log.Fatal(err)
	}
	keyDB, err := sql.Open(sqlite.DriverName, dsn)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := keystore.New(keyDB, kek)
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Use(gormplugin.New(field.NewEncryptor(keys))); err != nil {
		log.Fatal(err)
	}
	return db, func() {
		keys.Close()
		keyDB.Close()
		sqlDB.Close()
		kek.Close()
		os.RemoveAll(dir)
	}
}

// Employee binds its salary to its badge number: bind:Badge makes the
// badge, set by the application before the insert, part of the value's
// associated data.
type Employee struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	Badge    string `gorm:"size:32;uniqueIndex"`
	Salary   int    `gorm:"serializer:colcrypt" colcrypt:"bind:Badge"`
}

// Row binding: a value copied into another row of the same tenant and
// column, by someone who can write the database, fails to open instead of
// showing one employee another's salary.
func Example_rowBinding() {
	ctx := context.Background()
	db, cleanup := exampleDB(ctx)
	defer cleanup()
	if err := gormplugin.AutoMigrate(db, &Employee{}); err != nil {
		log.Fatal(err)
	}
	ctx = field.WithTenant(ctx, "acme")
	for _, e := range []Employee{{Badge: "E-1001", Salary: 98000}, {Badge: "E-1002", Salary: 51000}} {
		if err := db.WithContext(ctx).Create(&e).Error; err != nil {
			log.Fatal(err)
		}
	}
	var bob Employee
	err := db.WithContext(ctx).Where("badge = ?", "E-1002").First(&bob).Error
	fmt.Println(bob.Badge, bob.Salary, err)

	// Copy E-1001's value over E-1002's with plain SQL.
	raw, _ := db.DB()
	if _, err := raw.Exec(`UPDATE employees SET salary = (SELECT salary FROM employees WHERE badge = 'E-1001') WHERE badge = 'E-1002'`); err != nil {
		log.Fatal(err)
	}
	err = db.WithContext(ctx).Where("badge = ?", "E-1002").First(&Employee{}).Error
	fmt.Println("copied value:", errors.Is(err, codec.ErrAuth))

	// The row key must be set before the insert: an empty one seals nothing.
	err = db.WithContext(ctx).Create(&Employee{Salary: 1}).Error
	fmt.Println("no badge:", errors.Is(err, field.ErrNoRowKey))
	// Output:
	// E-1002 51000 <nil>
	// copied value: true
	// no badge: true
}

// Chart is a nullable column that must not be erased: notnull makes NULL
// an error both ways, for a pointer field too.
type Chart struct {
	ID        uint
	TenantID  string  `colcrypt:"tenant"`
	Allergies *string `gorm:"serializer:colcrypt" colcrypt:"notnull"`
}

// NULL is never encrypted, so anyone who can write the database can erase
// a value by setting it to NULL. With notnull the read that finds NULL
// fails, and so does a write of nil.
func Example_notNull() {
	ctx := context.Background()
	db, cleanup := exampleDB(ctx)
	defer cleanup()
	if err := gormplugin.AutoMigrate(db, &Chart{}); err != nil {
		log.Fatal(err)
	}
	ctx = field.WithTenant(ctx, "acme")
	penicillin := "penicillin"
	if err := db.WithContext(ctx).Create(&Chart{ID: 1, Allergies: &penicillin}).Error; err != nil {
		log.Fatal(err)
	}
	err := db.WithContext(ctx).Create(&Chart{ID: 2}).Error
	fmt.Println("write nil:", errors.Is(err, field.ErrNull))

	// Erase the value behind the application's back.
	raw, _ := db.DB()
	if _, err := raw.Exec(`UPDATE charts SET allergies = NULL WHERE id = 1`); err != nil {
		log.Fatal(err)
	}
	err = db.WithContext(ctx).First(&Chart{}, 1).Error
	fmt.Println("read NULL:", errors.Is(err, field.ErrNull))
	// Output:
	// write nil: true
	// read NULL: true
}

// Contact declares its nullable columns with database/sql's Null types.
type Contact struct {
	ID       uint
	TenantID string         `colcrypt:"tenant"`
	Email    sql.NullString `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
	Visits   sql.NullInt64  `gorm:"serializer:colcrypt"`
}

// sql.NullString and the other Null types are nullable columns: Valid:
// false is stored as SQL NULL, not as a ciphertext, and reads back as
// Valid: false; a valid value is sealed as its bare inner value, so Match
// takes the plain string.
func Example_nullTypes() {
	ctx := context.Background()
	db, cleanup := exampleDB(ctx)
	defer cleanup()
	if err := gormplugin.AutoMigrate(db, &Contact{}); err != nil {
		log.Fatal(err)
	}
	ctx = field.WithTenant(ctx, "acme")
	c := Contact{ID: 1, Email: sql.NullString{String: "ann@example.com", Valid: true}}
	if err := db.WithContext(ctx).Create(&c).Error; err != nil {
		log.Fatal(err)
	}

	raw, _ := db.DB()
	var stored []byte
	if err := raw.QueryRow(`SELECT visits FROM contacts WHERE id = 1`).Scan(&stored); err != nil {
		log.Fatal(err)
	}
	fmt.Println("visits stored as NULL:", stored == nil)

	var got Contact
	if err := db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).First(&got).Error; err != nil {
		log.Fatal(err)
	}
	fmt.Printf("email: %q valid=%v, visits valid=%v\n", got.Email.String, got.Email.Valid, got.Visits.Valid)
	// Output:
	// visits stored as NULL: true
	// email: "ann@example.com" valid=true, visits valid=false
}
