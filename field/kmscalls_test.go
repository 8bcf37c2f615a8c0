package field_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
)

// Environment of the cold-reader child process TestKMSCallsGrowWithTenants
// starts: TestMain runs coldRead instead of the tests when it is set.
const (
	envChildDSN = "COLCRYPT_FIELD_CHILD_DSN"
	envChildKEK = "COLCRYPT_FIELD_CHILD_KEK"
)

func TestMain(m *testing.M) {
	if dsn := os.Getenv(envChildDSN); dsn != "" {
		if err := coldRead(dsn, os.Getenv(envChildKEK)); err != nil {
			fmt.Fprintln(os.Stderr, "cold reader:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	callTenants = 10
	callValues  = 10_000
)

// TestKMSCallsGrowWithTenants seals 10,000 values over 10 tenants and
// counts, at the fake Cloud KMS server, one wrap per tenant; then a new
// process with a cold cache reads them all back with one unwrap per
// tenant.
func TestKMSCallsGrowWithTenants(t *testing.T) {
	e := newFakeKMSEnv(t, backends[1])
	ctx := context.Background()
	if _, err := e.db.ExecContext(ctx, `CREATE TABLE secrets (id int PRIMARY KEY, tenant text NOT NULL, v bytea NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	enc0, dec0 := e.fake.Calls()
	calls := func() (enc, dec int64) {
		enc, dec = e.fake.Calls()
		return enc - enc0, dec - dec0
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range callValues {
		tenant := fmt.Sprintf("tenant-%d", i%callTenants)
		v, err := e.enc.Seal(ctx, field.Scope{Tenant: tenant, Table: "secrets", Column: "v"}, fmt.Appendf(nil, "secret %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets VALUES ($1, $2, $3)`, i, tenant, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// One wrap per tenant, and one of the key audit trail's chain key.
	if got, _ := calls(); got != callTenants+1 {
		t.Errorf("KMS Encrypt calls for %d values over %d tenants = %d, want %d", callValues, callTenants, got, callTenants+1)
	}
	if _, got := calls(); got != 0 {
		t.Errorf("KMS Decrypt calls while sealing = %d, want 0 (the creator keeps its own key)", got)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildDSN+"="+e.dsn, envChildKEK+"="+e.fake.KeyURI(insecurefakeKeyName))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cold reader process: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("opened %d values", callValues)) {
		t.Fatalf("cold reader process output = %q, want it to open %d values", out, callValues)
	}
	if _, got := calls(); got != callTenants {
		t.Errorf("KMS Decrypt calls for a cold process reading %d values of %d tenants = %d, want %d", callValues, callTenants, got, callTenants)
	}
	if got, _ := calls(); got != callTenants+1 {
		t.Errorf("KMS Encrypt calls after the cold read = %d, want still %d", got, callTenants+1)
	}
}

// coldRead is the child process: a new Store with an empty cache opens
// every value of the secrets table.
func coldRead(dsn, kekURL string) error {
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	kek, err := kms.Open(ctx, kekURL)
	if err != nil {
		return err
	}
	defer kek.Close()
	store, err := keystore.New(db, kek, keystore.WithDialect("postgres"))
	if err != nil {
		return err
	}
	defer store.Close()
	enc := field.NewEncryptor(store)
	rows, err := db.QueryContext(ctx, `SELECT id, tenant, v FROM secrets ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int
		var tenant string
		var v []byte
		if err := rows.Scan(&id, &tenant, &v); err != nil {
			return err
		}
		got, err := enc.Open(ctx, field.Scope{Tenant: tenant, Table: "secrets", Column: "v"}, v)
		if err != nil {
			return fmt.Errorf("row %d: %w", id, err)
		}
		if want := fmt.Appendf(nil, "secret %d", id); !bytes.Equal(got, want) {
			return fmt.Errorf("row %d = %q, want %q", id, got, want)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Printf("opened %d values\n", n)
	return nil
}
