package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/migrate"
)

// Encrypt a plaintext column into a new column, then verify it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "colcrypt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A database with a plaintext column, and an empty column for the
	// ciphertext.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT, email_enc BLOB)`,
		`INSERT INTO users (tenant_id, email) VALUES ('acme', 'ann@acme.example'), ('acme', 'bob@acme.example'), ('globex', NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			log.Fatal(err)
		}
	}

	// Keys: a local master key (development only) and the key table.
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		log.Fatal(err)
	}
	kek, err := kms.Open(ctx, "local://"+keyFile+"?id=k1")
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

	m, err := migrate.New(db, field.NewEncryptor(keys))
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Run(ctx, migrate.Job{
		Kind: migrate.Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant_id",
	}, migrate.RunOptions{BatchSize: 500})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("encrypted %d rows, %d NULL\n", res.Updated, res.Null)

	rep, err := m.Verify(ctx, migrate.Job{Table: "users", Column: "email_enc", TenantColumn: "tenant_id"}, migrate.RunOptions{})
	if err != nil && !errors.Is(err, migrate.ErrRowsFailed) {
		log.Fatal(err)
	}
	fmt.Printf("verify: ok=%v encrypted=%d null=%d on key versions %v\n", err == nil, rep.Encrypted, rep.Null, rep.Versions)
	// Output:
	// encrypted 2 rows, 1 NULL
	// verify: ok=true encrypted=2 null=1 on key versions map[1:2]
}
