package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "modernc.org/sqlite" // the "sqlite" driver for the key table

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // the gcpkms:// scheme
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// keyName is the Cloud KMS CryptoKey every contender uses.
const keyName = "projects/colcrypt-bench/locations/global/keyRings/bench/cryptoKeys/kek"

// kmsEnv is what the KMS-scenario contenders share: the fake Cloud KMS,
// the tenants, and colcrypt's key table.
type kmsEnv struct {
	srv     *insecurefakekms.Server
	tenants []string

	// keyDB holds colcrypt's key table, in SQLite in a temporary
	// directory so that this scenario needs no database server. Every
	// tenant's key exists before any measurement.
	dir   string
	keyDB *sql.DB
	kek   *kms.Keeper
}

func newKMSEnv(ctx context.Context, tenants int) (_ *kmsEnv, err error) {
	e := &kmsEnv{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	for i := range tenants {
		e.tenants = append(e.tenants, fmt.Sprintf("tenant-%03d", i))
	}
	if e.srv, err = insecurefakekms.New(keyName); err != nil {
		return nil, err
	}
	// gocloud's secrets driver sends no request checksums; the fake
	// requires them unless told to accept their absence.
	e.srv.SetFaults(insecurefakekms.Faults{LenientChecksums: true})
	if e.dir, err = os.MkdirTemp("", "colcrypt-bench-"); err != nil {
		return nil, err
	}
	dsn := filepath.Join(e.dir, "keys.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	if e.keyDB, err = sql.Open("sqlite", dsn); err != nil {
		return nil, err
	}
	// Keep a connection per goroutine: reopening SQLite connections
	// between cold phases would be measured as colcrypt's cost.
	e.keyDB.SetMaxIdleConns(64)
	if err = keystore.CreateTable(ctx, e.keyDB, keystore.WithDialect("sqlite")); err != nil {
		return nil, err
	}
	// colcrypt's own Cloud KMS driver, through kms.Open, as a user opens it.
	if e.kek, err = kms.Open(ctx, e.srv.KeyURI(keyName)); err != nil {
		return nil, err
	}
	s, err := keystore.New(e.keyDB, e.kek)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for _, t := range e.tenants {
		if _, err = s.Active(ctx, t); err != nil {
			return nil, fmt.Errorf("creating the key of %s: %w", t, err)
		}
	}
	return e, nil
}

// clientOptions point a Cloud KMS client at the fake: its loopback
// endpoint, plaintext gRPC, no credentials.
func (e *kmsEnv) clientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(e.srv.Endpoint()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// kmsCalls is the number of requests the fake has received.
func (e *kmsEnv) kmsCalls() int64 {
	enc, dec := e.srv.Calls()
	return enc + dec
}

func (e *kmsEnv) close() {
	if e.kek != nil {
		e.kek.Close()
	}
	if e.keyDB != nil {
		e.keyDB.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}
