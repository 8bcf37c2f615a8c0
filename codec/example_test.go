package codec_test

import (
	"encoding/hex"
	"fmt"

	"github.com/colcrypt/colcrypt/codec"
)

// storedValue is the v1-short value of testdata/vectors.json: 15 bytes of
// plaintext sealed with AES-256-GCM under key version 1.
const storedValue = "c00101" + "91989fa6adb4bbc2c9d0d7de" + "6b9a58ac37cc14816ba2ba5a4bb8e8" + "bf79f2d38e9e2d50da3fad88634c252a"

func ExampleParse() {
	value, _ := hex.DecodeString(storedValue)

	// Parse routes a value to its key version before any key is fetched.
	v, err := codec.Parse(value)
	fmt.Println(v.Algorithm, v.KeyVersion, len(v.Header), len(v.Nonce), len(v.Ciphertext), err)
	fmt.Println("plaintext bytes:", len(value)-codec.Overhead(v.Algorithm, v.KeyVersion))

	_, err = codec.Parse([]byte("ann@example.com")) // a not yet encrypted row
	fmt.Println(err)
	_, err = codec.Parse([]byte{codec.Magic, 9, 1, 0, 0, 0})
	fmt.Println(err)
	// Output:
	// AES-256-GCM 1 3 12 31 <nil>
	// plaintext bytes: 15
	// codec: malformed value
	// codec: unsupported value format or algorithm
}

func ExampleIsValue() {
	// During a migration a column holds old plaintext and new values side
	// by side; the magic byte never starts valid UTF-8.
	value, _ := hex.DecodeString(storedValue)
	for _, cell := range [][]byte{[]byte("ann@example.com"), value, codec.Armor(nil, value)} {
		fmt.Println(codec.IsValue(cell), codec.IsArmored(cell))
	}
	// Output:
	// false false
	// true false
	// false true
}

func ExampleDearmor() {
	value, _ := hex.DecodeString(storedValue)

	// For a text column: a prefix and unpadded base64.
	text := codec.Armor(nil, value)
	fmt.Println(string(text))

	back, err := codec.Dearmor(text)
	fmt.Println(hex.EncodeToString(back) == storedValue, err)

	// One value has one armored form: no padding, no white space.
	_, err = codec.Dearmor(append(text, '\n'))
	fmt.Println(err)
	// Output:
	// $cc1$wAEBkZifpq20u8LJ0Nfea5pYrDfMFIFrorpaS7jov3ny046eLVDaP62IY0wlKg
	// true <nil>
	// codec: malformed value
}
