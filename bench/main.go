package main

import (
	_ "github.com/colcrypt/colcrypt/kms/gcpkms"
	_ "github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	_ "gocloud.dev/secrets/gcpkms"
)

func main() {}
