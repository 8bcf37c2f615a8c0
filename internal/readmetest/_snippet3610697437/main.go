package main

import (
	"context"
	"database/sql"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the key store's pool
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // gcpkms:// master keys (kms/awskms: awskms://, kms/localkms: local://)
	"github.com/colcrypt/colcrypt/sqltypes"
)

type Patient struct {
	ID        uint
	TenantID  string `colcrypt:"tenant"`
	Name      string `gorm:"serializer:colcrypt"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte `gorm:"index"`
	SSN       string `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
}

func main() {
	ctx := context.Background()
	dsn := os.Getenv("DATABASE_URL")
	kek, err := kms.Open(ctx, "gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii")
	if err != nil {
		log.Fatal(err)
	}
	keyDB, err := sql.Open("pgx", dsn) // the key store's own pool on your database, not GORM's
	if err != nil {
		log.Fatal(err)
	}
	keyDB.SetMaxOpenConns(4)
	keys, err := keystore.New(keyDB, kek, keystore.WithCacheTTL(5*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	enc := field.NewEncryptor(keys)

	// GORM
	db, err := gorm.Open(postgres.Open(dsn))
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Use(gormplugin.New(enc)); err != nil { // refuses a key store on GORM's pool (gormplugin.ErrSharedPool)
		log.Fatal(err)
	}
	p := Patient{TenantID: "acme", Name: "Ann Archer", Email: "ann@example.com", SSN: "123-45-6789"}
	db.WithContext(ctx).Create(&p)
	var ps []Patient
	db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&ps)

	// database/sql or pgx, no GORM
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	t, id, out := "acme", 1, ""
	ssn := sqltypes.NewColumn[string](enc, "patients", "ssn")
	pool.Exec(ctx, `INSERT INTO patients (tenant_id, ssn) VALUES ($1, $2)`, t, ssn.Value(ctx, t, "123-45-6789"))
	pool.QueryRow(ctx, `SELECT ssn FROM patients WHERE id=$1`, id).Scan(ssn.Scan(ctx, t, &out))
}
