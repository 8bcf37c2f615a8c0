package kms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // registers gcpkms://
	"github.com/colcrypt/colcrypt/kms/localkms" // registers local://
)

// A Keeper wraps data keys under a master key that never leaves the KMS;
// the URL picks the driver. The data key is wrapped for a WrapContext
// (its purpose, tenant and key version), so a wrapped key moved to another
// tenant's row does not unwrap. localkms is a development key in
// a file; gcpkms:// and awskms:// URLs work the same way.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kms-example")
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

	dek := bytes.Repeat([]byte{7}, 32) // a real data key is 32 random bytes
	acme := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "acme", Version: 1}
	wrapped, err := kek.Wrap(ctx, dek, acme)
	if err != nil {
		log.Fatal(err)
	}
	got, err := kek.Unwrap(ctx, wrapped, acme)
	fmt.Println("unwrapped:", bytes.Equal(got, dek), err)

	globex := acme
	globex.Tenant = "globex"
	_, err = kek.Unwrap(ctx, wrapped, globex)
	fmt.Println("other tenant:", errors.Is(err, kms.ErrUnwrap))

	_, err = kms.Open(ctx, "vault://secret/k1")
	fmt.Println("unknown scheme:", errors.Is(err, kms.ErrUnknownScheme))
	// Output:
	// unwrapped: true <nil>
	// other tenant: true
	// unknown scheme: true
}

// Name reduces a master key URL to the canonical name the key table
// stores, dropping connection settings. It only parses, so it is safe on
// a name read back from the database. Like Open, it knows the schemes of
// the drivers imported.
func ExampleName() {
	name, err := kms.Name("gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k?endpoint=localhost:9010&insecure=true")
	fmt.Println(name, err)
	// Output: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k <nil>
}
