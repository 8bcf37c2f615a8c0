package awskms_test

import (
	"context"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/awskms"
)

// Wrapping a data key with AWS KMS, by alias. Credentials come from the
// SDK's default chain. The wrap context reaches AWS KMS as three
// encryption-context entries (colcrypt-purpose, colcrypt-tenant,
// colcrypt-key-version) that IAM conditions and CloudTrail can read.
// (Not run: it needs AWS, or local-kms and an
// endpoint=http://127.0.0.1:4599 parameter.)
func Example() {
	ctx := context.Background()
	kek, err := kms.Open(ctx, "awskms://alias/app-pii?region=eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	dek := make([]byte, 32)
	wc := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}
	wrapped, err := kek.Wrap(ctx, dek, wc)
	if err != nil {
		log.Fatal(err)
	}
	got, err := kek.Unwrap(ctx, wrapped, wc)
	fmt.Println(kek.URI(), len(got), err)
}

// New makes a keeper from Go, with options instead of URL parameters; a
// key ARN names its own region. (Not run: it needs AWS.)
func ExampleNew() {
	ctx := context.Background()
	kek, err := awskms.New(ctx, "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	fmt.Println(kek.URI())
}
