package localkms_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// A development master key in a file, then a rotation: the new key wraps
// new data keys while the old one still unwraps the old ones.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "localkms-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "master.keys")

	if err := localkms.GenerateKeyFile(path, "k1"); err != nil {
		log.Fatal(err)
	}
	k1, err := kms.Open(ctx, "local://"+path)
	if err != nil {
		log.Fatal(err)
	}
	defer k1.Close()
	dek := make([]byte, 32)
	wc := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}
	wrapped, err := k1.Wrap(ctx, dek, wc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.TrimPrefix(k1.URI(), "local://"+path))

	// Rotate: add k2, which new data keys use.
	if err := localkms.GenerateKeyFile(path, "k2"); err != nil {
		log.Fatal(err)
	}
	k2, err := kms.Open(ctx, "local://"+path+"?id=k2")
	if err != nil {
		log.Fatal(err)
	}
	defer k2.Close()
	fmt.Println(strings.TrimPrefix(k2.URI(), "local://"+path))

	// The stored URI of the old key still opens k1.
	old, err := kms.Open(ctx, k1.URI())
	if err != nil {
		log.Fatal(err)
	}
	defer old.Close()
	got, err := old.Unwrap(ctx, wrapped, wc)
	fmt.Println(len(got), err)
	_, err = k2.Unwrap(ctx, wrapped, wc)
	fmt.Println(err)
	// Output:
	// ?id=k1
	// ?id=k2
	// 32 <nil>
	// kms: unwrap failed
}
