package awskms

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/colcrypt/colcrypt/kms"
)

// scheme is the kms.Open URL scheme of this driver.
const scheme = "awskms"

func init() { kms.Register(scheme, openURL, nameURL) }

const urlForms = "want awskms://alias/NAME?region=R, awskms://KEY-ID?region=R or awskms:///arn:aws:kms:R:ACCOUNT:key/KEY-ID (an ARN takes three slashes)"

// openURL opens the URL forms in the package doc. The canonical URI names
// the key and, for an alias or key id, its region; it drops the endpoint:
// how to reach the service is not part of the key's identity.
func openURL(ctx context.Context, u *url.URL) (kms.Driver, string, error) {
	id, opts, _, err := parseURL(u)
	if err != nil {
		return nil, "", err
	}
	drv, err := newDriver(ctx, id, opts...)
	if err != nil {
		return nil, "", err
	}
	return drv, keyURL(drv.key.id, drv.region), nil
}

// nameURL is the canonical name of the key u names, from the URL alone:
// the key and the region (an ARN names its own), never the endpoint. A key
// id or alias given without region= has no region in its name; the keeper
// opened from such a URL takes the SDK's default region, which only the
// environment can tell.
func nameURL(u *url.URL) (string, error) {
	id, _, region, err := parseURL(u)
	if err != nil {
		return "", err
	}
	if region == "" && !strings.HasPrefix(id, "arn:") {
		return scheme + "://" + id, nil
	}
	return keyURL(id, region), nil
}

// parseURL reads the key, the options and the region= parameter of u.
func parseURL(u *url.URL) (id string, opts []Option, region string, err error) {
	if u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return "", nil, "", errors.New("awskms: malformed URL: " + urlForms)
	}
	// awskms://alias/NAME parses as host "alias", path "/NAME";
	// awskms:///arn:… as an empty host and path "/arn:…".
	id = u.Host + u.Path
	if u.Host == "" {
		id = strings.TrimPrefix(u.Path, "/")
	}
	if id == "" {
		return "", nil, "", errors.New("awskms: no key in URL: " + urlForms)
	}
	if _, err := parseKeyID(id); err != nil {
		return "", nil, "", fmt.Errorf("%w (%s)", err, urlForms)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, "", errors.New("awskms: malformed URL query: " + urlForms)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return "", nil, "", fmt.Errorf("awskms: URL parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		if v == "" {
			return "", nil, "", fmt.Errorf("awskms: URL parameter %s is empty", k)
		}
		switch k {
		case "region":
			opts = append(opts, WithRegion(v))
			region = v
		case "endpoint":
			opts = append(opts, WithEndpoint(v))
		default:
			return "", nil, "", fmt.Errorf("awskms: unknown URL parameter %q (want region, endpoint)", k)
		}
	}
	return id, opts, region, nil
}

// keyURL is the canonical URL of the KMS key keyID (a key id, alias, key ARN
// or alias ARN) in region: awskms:///ARN for an ARN, which names its own
// region, and awskms://ID?region=REGION otherwise.
func keyURL(keyID, region string) string {
	if strings.HasPrefix(keyID, "arn:") {
		return scheme + ":///" + keyID
	}
	return scheme + "://" + keyID + "?" + url.Values{"region": {region}}.Encode()
}
