package kms

import (
	"errors"
	"fmt"
	"net/url"
)

var errInvalidName = errors.New("kms: invalid master key name")

// Name returns the canonical name of the master key rawURL names, the
// form [Keeper.URI] returns and the key table stores. It parses only: it
// opens nothing and connects to nothing, so it is safe on untrusted
// input. Two URLs that differ only in connection settings have the same
// name, which is how a key table row written with such settings in its
// kek_uri is matched to a configured master key.
func Name(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("%w: not a URL", errInvalidName)
	}
	sc, err := lookupScheme(u.Scheme)
	if err != nil {
		return "", err
	}
	name, err := sc.name(u)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errInvalidName, err)
	}
	return name, nil
}
