package gcpkms_test

import (
	"context"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/gcpkms"
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
	tenantA := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}
	wrapped, err := kek.Wrap(ctx, dek, tenantA)
	if err != nil {
		log.Fatal(err)
	}
	got, err := kek.Unwrap(ctx, wrapped, tenantA)
	fmt.Println(kek.URI())
	fmt.Println(len(got), err)
	tenantB := tenantA
	tenantB.Tenant = "tenant-b"
	_, err = kek.Unwrap(ctx, wrapped, tenantB)
	fmt.Println(err)
	fmt.Println(srv.Calls())
	// Output:
	// gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii
	// 32 <nil>
	// kms: unwrap failed
	// 1 2
}

// New makes a keeper from Go, with options instead of URL parameters.
// Without WithEndpoint it reaches Cloud KMS with Application Default
// Credentials.
func ExampleNew() {
	ctx := context.Background()
	const key = "projects/p/locations/global/keyRings/app/cryptoKeys/pii"
	srv, err := insecurefakekms.New(key)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	kek, err := gcpkms.New(ctx, key, gcpkms.WithEndpoint(srv.Endpoint()), gcpkms.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	fmt.Println(kek.URI())
	// Output: gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii
}
