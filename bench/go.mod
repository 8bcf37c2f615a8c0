module github.com/colcrypt/colcrypt/bench

go 1.26.0

require github.com/colcrypt/colcrypt v0.0.0

require (
	github.com/tink-crypto/tink-go-gcpkms/v2 v2.4.0 // indirect
	gocloud.dev v0.49.0 // indirect
)

replace github.com/colcrypt/colcrypt => ../
