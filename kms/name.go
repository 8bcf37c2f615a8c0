package kms

import (
	"errors"
	"fmt"
	"net/url"
)

// Namer returns the canonical name of the master key a URL of its scheme
// names: the parts that identify the key (for Cloud KMS the CryptoKey's
// resource name, for a key file its path and key id), without the parts
// that only say how to reach it (endpoint, credentials, insecure
// transport, skipped checks). It must only parse: no I/O, no file read,
// no connection, because it is given names read from a key table, which
// an attacker may have written.
type Namer func(u *url.URL) (string, error)

// ErrInvalidName is returned by [Name] for a URL its scheme's driver
// cannot read as a master key name.
var ErrInvalidName = errors.New("kms: invalid master key name")

// Name returns the canonical name of the master key rawURL names, the
// form [Keeper.URI] returns and the key table stores. It parses only: it
// opens nothing and connects to nothing, so it is safe on untrusted
// input. Two URLs that differ only in connection settings have the same
// name, which is how a key table row written with such settings in its
// kek_uri is matched to a configured master key.
func Name(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("%w: not a URL", ErrInvalidName)
	}
	sc, err := lookupScheme(u.Scheme)
	if err != nil {
		return "", err
	}
	name, err := sc.name(u)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	return name, nil
}
