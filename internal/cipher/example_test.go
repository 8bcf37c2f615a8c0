package cipher_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/normalize"
)

func ExampleNewCipher() {
	// In production the DEK comes from the keystore, unwrapped by the KMS.
	dek := make([]byte, cipher.DEKSize)
	rand.Read(dek)

	scope := codec.Scope{Tenant: "acme", Table: "patients", Column: "email"}
	c, err := cipher.NewCipher(dek, 1, scope)
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
	other, _ := cipher.NewCipher(dek, 1, codec.Scope{Tenant: "globex", Table: "patients", Column: "email"})
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
	dek := make([]byte, cipher.DEKSize)
	rand.Read(dek)
	c, _ := cipher.NewCipher(dek, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "ssn"})

	a, _ := c.SealDeterministic(nil, []byte("123-45-6789"))
	b, _ := c.SealDeterministic(nil, []byte("123-45-6789"))
	fmt.Println("equal plaintexts, equal values:", bytes.Equal(a, b))
	pt, _ := c.Open(nil, a)
	fmt.Println(string(pt))
	// Output:
	// equal plaintexts, equal values: true
	// 123-45-6789
}

func ExampleCipher_BlindIndex() {
	dek := make([]byte, cipher.DEKSize)
	rand.Read(dek)
	c, _ := cipher.NewCipher(dek, 1, codec.Scope{Tenant: "acme", Table: "patients", Column: "email"})

	lower, _ := normalize.Lookup("lower")
	trim, _ := normalize.Lookup("trim")
	norm := normalize.Chain(trim, lower)

	// Index what is stored, then look up by the index of what is asked.
	stored, _ := c.BlindIndex(nil, []byte(norm("Ann@Example.com")), cipher.DefaultBlindIndexLen)
	query, _ := c.BlindIndex(nil, []byte(norm("  ann@example.COM ")), cipher.DefaultBlindIndexLen)
	fmt.Println(len(stored), bytes.Equal(stored, query))

	_, err := normalize.Lookup("soundex")
	fmt.Println(err)
	// Output:
	// 16 true
	// normalize: unknown normalizer "soundex" (known: alnum, digits, initial, lower, nfkc, space, trim, upper, first<N>, last<N> with N from 1 to 255)
}
