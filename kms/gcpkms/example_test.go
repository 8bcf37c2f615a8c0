package gcpkms_test

import (
	"context"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// Wrapping a data key with Cloud KMS. Here the service is the in-process
// fake; with the real one, the URL is just
// gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K.
func Example() {
	ctx := context.Background()
	const key = "projects/p/locations/global/keyRings/app/cryptoKeys/pii"
	srv, err := insecurefakekms.New(key)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	kek, err := kms.Open(ctx, srv.KeyURI(key))
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	dek := make([]byte, 32)
	wrapped, err := kek.Wrap(ctx, dek, []byte("tenant-a/1"))
	if err != nil {
		log.Fatal(err)
	}
	got, err := kek.Unwrap(ctx, wrapped, []byte("tenant-a/1"))
	fmt.Println(kek.URI())
	fmt.Println(len(got), err)
	_, err = kek.Unwrap(ctx, wrapped, []byte("tenant-b/1"))
	fmt.Println(err)
	fmt.Println(srv.EncryptCalls(), srv.DecryptCalls())
	// Output:
	// gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii
	// 32 <nil>
	// kms: unwrap failed
	// 1 2
}
