package gcpkms

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/colcrypt/colcrypt/kms"
)

// scheme is the kms.Open URL scheme of this driver.
const scheme = "gcpkms"

func init() { kms.Register(scheme, openURL, nameURL) }

// openURL opens gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
// with the options in the package doc. The canonical URI drops the query:
// how to reach the service is not part of the key's identity.
func openURL(ctx context.Context, u *url.URL) (kms.Driver, string, error) {
	keyName, opts, err := parseURL(u)
	if err != nil {
		return nil, "", err
	}
	drv, err := newDriver(ctx, keyName, opts...)
	if err != nil {
		return nil, "", err
	}
	return drv, scheme + "://" + keyName, nil
}

// nameURL is the canonical name of the CryptoKey u names: the resource
// name, without endpoint, insecure or skip_integrity_checks, which say
// how to reach the service, never which key.
func nameURL(u *url.URL) (string, error) {
	keyName, _, err := parseURL(u)
	if err != nil {
		return "", err
	}
	return scheme + "://" + keyName, nil
}

// parseURL reads the CryptoKey name and the connection options of u.
func parseURL(u *url.URL) (string, []Option, error) {
	if u.Opaque != "" || u.User != nil || u.Fragment != "" || u.Host != "projects" {
		return "", nil, fmt.Errorf("gcpkms: want a URL of the form %s://projects/P/locations/L/keyRings/R/cryptoKeys/K", scheme)
	}
	keyName := u.Host + u.Path
	if !cryptoKeyRE.MatchString(keyName) {
		return "", nil, fmt.Errorf("gcpkms: %q is not a CryptoKey name: want %s://projects/P/locations/L/keyRings/R/cryptoKeys/K", keyName, scheme)
	}
	var opts []Option
	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return "", nil, fmt.Errorf("gcpkms: URL parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			if v == "" {
				return "", nil, fmt.Errorf("gcpkms: URL parameter endpoint is empty")
			}
			opts = append(opts, WithEndpoint(v))
		case "insecure", "skip_integrity_checks":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, fmt.Errorf("gcpkms: URL parameter %s=%q: want true or false", k, v)
			}
			switch {
			case !on:
			case k == "insecure":
				opts = append(opts, WithInsecure())
			default:
				opts = append(opts, InsecureSkipResponseIntegrityChecks())
			}
		default:
			return "", nil, fmt.Errorf("gcpkms: unknown URL parameter %q (want endpoint, insecure, skip_integrity_checks)", k)
		}
	}
	return keyName, opts, nil
}
