package awskms_test

import (
	"context"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/awskms"
)

// Wrapping a data key with AWS KMS, by alias. Credentials come from the
// SDK's default chain. (Not run: it needs AWS, or local-kms and an
// endpoint=http://127.0.0.1:4599 parameter.)
func Example() {
	ctx := context.Background()
	kek, err := kms.Open(ctx, "awskms://alias/app-pii?region=eu-west-1")
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
	fmt.Println(kek.URI(), len(got), err)
}

// A key ARN takes three slashes; it names its own region.
func ExampleKeyURL() {
	fmt.Println(awskms.KeyURL("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", ""))
	fmt.Println(awskms.KeyURL("alias/app-pii", "eu-west-1"))
	// Output:
	// awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
	// awskms://alias/app-pii?region=eu-west-1
}
