// Command pgx uses colcrypt with native pgx and no ORM: sqltypes columns
// as query arguments and scan targets, a blind-indexed lookup, and a bulk
// load with CopyFrom.
//
//	go run ./examples/pgx -dsn postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// The master key is a local one generated into a temporary directory; in
// production pass a Cloud KMS key URL with -kms.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the key table

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/sqltypes"
)

func main() {
	dsn := flag.String("dsn", os.Getenv("COLCRYPT_DSN"), "Postgres URL")
	kekURL := flag.String("kms", "", "master key URL (default: a local key in a temporary directory)")
	flag.Parse()
	if *dsn == "" {
		log.Fatal("pgx example: -dsn (or COLCRYPT_DSN) is required")
	}
	if err := run(context.Background(), os.Stdout, *dsn, *kekURL); err != nil {
		log.Fatal(err)
	}
}

type patient struct {
	tenant, name, email string
}

func run(ctx context.Context, w io.Writer, dsn, kekURL string) error {
	if kekURL == "" {
		dir, err := os.MkdirTemp("", "colcrypt-pgx-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		keyFile := filepath.Join(dir, "master.keys")
		if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
			return err
		}
		kekURL = localkms.FileURL(keyFile, "k1")
	}
	kek, err := kms.Open(ctx, kekURL)
	if err != nil {
		return err
	}
	defer kek.Close()

	// The key table goes through database/sql; the application's own
	// queries through a pgx pool. Keep the two apart: a column's Scan
	// may ask the key store for a key while the pgx rows still hold
	// their connection, and a key store on the same bounded pool would
	// wait for it.
	sqlDB, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()

	// A fresh key table per run, because the example's master key is
	// temporary; an application keeps one for good.
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS pgx_example_patients, pgx_example_keys`); err != nil {
		return err
	}
	if err := keystore.CreateTable(ctx, sqlDB, keystore.WithDialect("postgres"), keystore.WithTable("pgx_example_keys")); err != nil {
		return err
	}
	keys, err := keystore.New(sqlDB, kek, keystore.WithDialect("postgres"), keystore.WithTable("pgx_example_keys"))
	if err != nil {
		return err
	}
	defer keys.Close()
	enc := field.NewEncryptor(keys)

	if _, err := pool.Exec(ctx, `CREATE TABLE pgx_example_patients (
		id bigserial PRIMARY KEY, tenant_id text NOT NULL,
		name bytea, email bytea, email_bidx bytea)`); err != nil {
		return err
	}

	name := sqltypes.NewColumn[string](enc, "pgx_example_patients", "name")
	email := sqltypes.NewColumn[string](enc, "pgx_example_patients", "email", sqltypes.WithTag("blindindex:email_bidx,normalize:trim+lower"))

	// One row with Exec: the Valuers seal on the way out.
	bidx, err := email.BlindIndex(ctx, "acme", "ann@example.com")
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO pgx_example_patients (tenant_id, name, email, email_bidx) VALUES ($1, $2, $3, $4)`,
		"acme", name.Value(ctx, "acme", "Ann Archer"), email.Value(ctx, "acme", "ann@example.com"), bidx); err != nil {
		return err
	}

	// Many rows with CopyFrom: seal into raw bytes, then copy.
	var rows [][]any
	for i := range 1000 {
		p := patient{tenant: []string{"acme", "globex"}[i%2], name: fmt.Sprintf("Patient %d", i), email: fmt.Sprintf("p%d@example.com", i)}
		n, err := name.Seal(ctx, p.tenant, p.name)
		if err != nil {
			return err
		}
		e, err := email.Seal(ctx, p.tenant, p.email)
		if err != nil {
			return err
		}
		b, err := email.BlindIndex(ctx, p.tenant, p.email)
		if err != nil {
			return err
		}
		rows = append(rows, []any{p.tenant, n, e, b})
	}
	copied, err := pool.CopyFrom(ctx, pgx.Identifier{"pgx_example_patients"},
		[]string{"tenant_id", "name", "email", "email_bidx"}, pgx.CopyFromRows(rows))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "copied %d encrypted rows\n", copied)

	// Find a row by email: the blind index of the query under each live
	// key version of the tenant.
	candidates, err := email.Match(ctx, "acme", "  ANN@example.com ")
	if err != nil {
		return err
	}
	var gotName, gotEmail string
	err = pool.QueryRow(ctx, `SELECT name, email FROM pgx_example_patients WHERE tenant_id = $1 AND email_bidx = ANY($2)`, "acme", candidates).
		Scan(name.Scan(ctx, "acme", &gotName), email.Scan(ctx, "acme", &gotEmail))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "found by email: %s <%s>\n", gotName, gotEmail)

	// Read a tenant's rows: the tenant column comes first so each row's
	// values open with that row's tenant.
	var tenant string
	var n int
	prows, err := pool.Query(ctx, `SELECT tenant_id, name FROM pgx_example_patients WHERE tenant_id = 'globex' ORDER BY id LIMIT 3`)
	if err != nil {
		return err
	}
	for prows.Next() {
		if err := prows.Scan(&tenant, name.ScanTenant(ctx, &tenant, &gotName)); err != nil {
			return err
		}
		n++
		fmt.Fprintf(w, "%s: %s\n", tenant, gotName)
	}
	if err := prows.Err(); err != nil {
		return err
	}
	st := keys.Stats()
	fmt.Fprintf(w, "KMS calls: %d wraps, %d unwraps for %d rows\n", st.KMSWraps, st.KMSUnwraps, copied+1)
	return nil
}
