// Command quickstart shows colcrypt end to end on the embedded default: a
// SQLite file and a local master key, both in a temporary directory, so it
// runs anywhere with nothing but Go:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -dsn postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// It creates a table, stores patients of two tenants with encrypted name
// and email columns, prints the raw stored bytes next to the decrypted
// values, shows that a value pasted into the other tenant's row fails to
// open, and finds a row by its blind-indexed email.
package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

func main() {
	dsn := flag.String("dsn", "", "Postgres URL to use instead of a temporary SQLite file")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *dsn); err != nil {
		log.Fatal(err)
	}
}

type patient struct {
	tenant, name, email string
}

func run(ctx context.Context, w io.Writer, dsn string) error {
	dir, err := os.MkdirTemp("", "colcrypt-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// 1. A master key. In production this is a Cloud KMS key
	//    (gcpkms://projects/…/cryptoKeys/…); local:// is for development.
	keyFile := filepath.Join(dir, "master.keys")
	if err := localkms.GenerateKeyFile(keyFile, "k1"); err != nil {
		return err
	}
	kek, err := kms.Open(ctx, "local://"+keyFile+"?id=k1")
	if err != nil {
		return err
	}
	defer kek.Close()

	// 2. The database, with colcrypt's key table in it. The key store
	//    gets a pool of its own on the same database: a key-store miss
	//    while the application holds a connection (a transaction, rows
	//    being read) then never waits for a connection of the
	//    application's pool (the GORM plugin refuses a shared one).
	driver, dsn, dialect := dataSource(dir, dsn)
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	keyDB, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer keyDB.Close()
	// The quickstart's master key lives in a temporary directory, so its
	// key table must start empty on every run; an application keeps one
	// colcrypt_keys table for good.
	for _, table := range []string{"quickstart_patients", "quickstart_keys"} {
		if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
			return err
		}
	}
	if err := keystore.CreateTable(ctx, db, keystore.WithDialect(dialect), keystore.WithTable("quickstart_keys")); err != nil {
		return err
	}
	keys, err := keystore.New(keyDB, kek, keystore.WithDialect(dialect), keystore.WithTable("quickstart_keys"))
	if err != nil {
		return err
	}
	defer keys.Close()
	enc := field.NewEncryptor(keys)

	blob := "BLOB"
	if dialect == "postgres" {
		blob = "BYTEA"
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE quickstart_patients (
		id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL,
		name %[1]s, email %[1]s, email_bidx %[1]s)`, blob)); err != nil {
		return err
	}

	// 3. Store patients of two tenants. Each tenant gets its own data key
	//    on first use; the email also gets a blind index for lookups.
	emailIndex, err := field.NewBlindIndex("email_bidx", 16, "trim", "lower")
	if err != nil {
		return err
	}
	patients := []patient{
		{"acme", "Ann Archer", "ann@example.com"},
		{"acme", "Bob Baker", "bob@example.com"},
		{"globex", "Gil Grant", "gil@example.org"},
	}
	for i, p := range patients {
		name, err := enc.Seal(ctx, scope(p.tenant, "name"), []byte(p.name))
		if err != nil {
			return err
		}
		email, err := enc.Seal(ctx, scope(p.tenant, "email"), []byte(p.email))
		if err != nil {
			return err
		}
		bidx, err := enc.BlindIndex(ctx, scope(p.tenant, "email"), emailIndex, []byte(p.email))
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, rebind(dialect, `INSERT INTO quickstart_patients (id, tenant_id, name, email, email_bidx) VALUES (?, ?, ?, ?, ?)`),
			i+1, p.tenant, name, email, bidx); err != nil {
			return err
		}
	}

	// 4. What the database holds, and what the application reads.
	fmt.Fprintln(w, "id  tenant  stored name (hex, first 24 bytes)                      decrypted")
	rows, err := db.QueryContext(ctx, `SELECT id, tenant_id, name FROM quickstart_patients ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int
		var tenant string
		var name []byte
		if err := rows.Scan(&id, &tenant, &name); err != nil {
			return err
		}
		plain, err := enc.Open(ctx, scope(tenant, "name"), name)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-3d %-7s %-54s %s\n", id, tenant, hex.EncodeToString(name[:24])+"…", plain)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()

	// 5. An attacker with write access pastes acme's ciphertext into
	//    globex's row. The row's tenant is bound into every value, so it
	//    does not open.
	var stolen []byte
	if err := db.QueryRowContext(ctx, `SELECT name FROM quickstart_patients WHERE id = 1`).Scan(&stolen); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, rebind(dialect, `UPDATE quickstart_patients SET name = ? WHERE id = 3`), stolen); err != nil {
		return err
	}
	var pasted []byte
	if err := db.QueryRowContext(ctx, `SELECT name FROM quickstart_patients WHERE id = 3`).Scan(&pasted); err != nil {
		return err
	}
	_, err = enc.Open(ctx, scope("globex", "name"), pasted)
	fmt.Fprintf(w, "\nacme's name pasted into globex's row: %v (is codec.ErrAuth: %t)\n", err, errors.Is(err, codec.ErrAuth))

	// 6. Find a patient by email without decrypting the table: compute the
	//    blind index of the query under every live key version.
	candidates, err := enc.BlindIndexCandidates(ctx, scope("acme", "email"), emailIndex, []byte("  Bob@Example.com"))
	if err != nil {
		return err
	}
	for _, c := range candidates {
		var id int
		var email []byte
		err := db.QueryRowContext(ctx, rebind(dialect, `SELECT id, email FROM quickstart_patients WHERE tenant_id = ? AND email_bidx = ?`), "acme", c).Scan(&id, &email)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return err
		}
		plain, err := enc.Open(ctx, scope("acme", "email"), email)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "lookup of \"  Bob@Example.com\" in tenant acme: row %d, %s\n", id, plain)
	}

	st := keys.Stats()
	fmt.Fprintf(w, "\nKMS calls: %d wraps, %d unwraps for %d values (a data key and an index key per tenant, an audit chain key per key table)\n", st.KMSWraps, st.KMSUnwraps, 2*len(patients))
	return nil
}

func scope(tenant, column string) field.Scope {
	return field.Scope{Tenant: tenant, Table: "quickstart_patients", Column: column}
}

// dataSource returns the database/sql driver and DSN of the example's
// database: Postgres at dsn, or a SQLite file in dir, in WAL mode with a
// busy timeout so that the key store's pool and the application's can
// both write to it.
func dataSource(dir, dsn string) (driver, source string, d string) {
	if dsn != "" {
		return "pgx", dsn, "postgres"
	}
	return "sqlite", "file:" + filepath.Join(dir, "quickstart.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)", "sqlite"
}

// rebind turns ? placeholders into Postgres' $n.
func rebind(d, q string) string {
	if d != "postgres" {
		return q
	}
	out, n := make([]byte, 0, len(q)+8), 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
