package codec_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/codec"
)

func ExampleNewCipher() {
	// In production the DEK comes from the keystore, unwrapped by the KMS.
	dek := make([]byte, codec.DEKSize)
	rand.Read(dek)

	scope := codec.Scope{Tenant: "acme", Table: "patients", Column: "email"}
	c, err := codec.NewCipher(dek, 1, scope)
	if err != nil {
		log.Fatal(err)
	}
	value, err := c.Seal(nil, []byte("ann@example.com"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("value bytes:", len(value), "=", len("ann@example.com"), "+", codec.Overhead(codec.AESGCM, 1))

	plaintext, err := c.Open(nil, value)
	fmt.Printf("%s %v\n", plaintext, err)

	// The same bytes in another tenant's row do not open.
	other, _ := codec.NewCipher(dek, 1, codec.Scope{Tenant: "globex", Table: "patients", Column: "email"})
	_, err = other.Open(nil, value)
	fmt.Println(errors.Is(err, codec.ErrAuth), err)

	// A Cipher holds keys and never prints them.
	fmt.Printf("%v %+v\n", c, c)
	// Output:
	// value bytes: 46 = 15 + 31
	// ann@example.com <nil>
	// true codec: message authentication failed
	// [redacted] [redacted]
}

func ExampleCipher_SealDeterministic() {
	dek := make([]byte, codec.DEKSize)
	rand.Read(dek)
	c, _ := codec.NewCipher(dek, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "ssn"})

	a, _ := c.SealDeterministic(nil, []byte("123-45-6789"))
	b, _ := c.SealDeterministic(nil, []byte("123-45-6789"))
	fmt.Println("equal plaintexts, equal values:", bytes.Equal(a, b))
	pt, _ := c.Open(nil, a)
	fmt.Println(string(pt))
	// Output:
	// equal plaintexts, equal values: true
	// 123-45-6789
}

func ExampleArmor() {
	dek := make([]byte, codec.DEKSize)
	rand.Read(dek)
	c, _ := codec.NewCipher(dek, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "notes"})
	value, _ := c.Seal(nil, []byte("allergic to penicillin"))

	// For a text column: a prefix and unpadded base64.
	text := codec.Armor(nil, value)
	fmt.Println(codec.IsArmored(text), string(text[:len(codec.ArmorPrefix)]))

	back, err := codec.Dearmor(text)
	fmt.Println(bytes.Equal(back, value), err)
	pt, _ := c.Open(nil, back)
	fmt.Println(string(pt))

	_, err = codec.Dearmor(append(text, '\n'))
	fmt.Println(err)
	// Output:
	// true $cc1$
	// true <nil>
	// allergic to penicillin
	// codec: malformed value
}

func ExampleCipher_BlindIndex() {
	dek := make([]byte, codec.DEKSize)
	rand.Read(dek)
	c, _ := codec.NewCipher(dek, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"})

	lower, _ := codec.LookupNormalizer("lower")
	trim, _ := codec.LookupNormalizer("trim")
	norm := codec.Chain(trim, lower)

	// Index what is stored, then look up by the index of what is asked.
	stored, _ := c.BlindIndex(nil, []byte(norm("Ann@Example.com")), codec.DefaultBlindIndexLen)
	query, _ := c.BlindIndex(nil, []byte(norm("  ann@example.COM ")), codec.DefaultBlindIndexLen)
	fmt.Println(len(stored), bytes.Equal(stored, query))

	_, err := codec.LookupNormalizer("soundex")
	fmt.Println(err)
	// Output:
	// 16 true
	// codec: unknown normalizer "soundex" (known: alnum, digits, lower, nfkc, space, trim, upper)
}

func ExampleParse() {
	dek := make([]byte, codec.DEKSize)
	rand.Read(dek)
	c, _ := codec.NewCipher(dek, 300, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"})
	value, _ := c.Seal(nil, []byte("ann@example.com"))

	// Parse routes a value to its key version before any key is fetched.
	v, err := codec.Parse(value)
	fmt.Println(v.Algorithm, v.KeyVersion, len(v.Header), len(v.Nonce), len(v.Ciphertext), err)

	_, err = codec.Parse([]byte("ann@example.com")) // a not yet encrypted row
	fmt.Println(err)
	_, err = codec.Parse([]byte{codec.Magic, 9, 1, 0, 0, 0})
	fmt.Println(err)
	// Output:
	// AES-256-GCM 300 4 12 31 <nil>
	// codec: malformed value
	// codec: unsupported value format or algorithm
}
