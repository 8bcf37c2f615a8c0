package localkms

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"

	"github.com/colcrypt/colcrypt/kms"
)

// scheme is the kms.Open URL scheme of this driver.
const scheme = "local"

func init() { kms.Register(scheme, openURL, nameURL) }

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

const urlForms = "want local:///abs/path/to/keyfile?id=k1 or local://?env=NAME&id=k1"

// openURL opens the URL forms in the package doc. Its errors quote the
// path, the variable's name and parameter names, never parameter values
// (a key pasted into a URL by mistake must not end up in a log).
func openURL(_ context.Context, u *url.URL) (kms.Driver, string, error) {
	loc, err := parseURL(u)
	if err != nil {
		return nil, "", err
	}
	var ks *keyset
	if loc.path != "" {
		ks, err = readKeyFile(loc.path)
	} else {
		v, ok := os.LookupEnv(loc.env)
		if !ok || v == "" {
			return nil, "", fmt.Errorf("localkms: environment variable %s is not set", loc.env)
		}
		ks, err = parseKeyset([]byte(v), true)
		if err != nil {
			err = fmt.Errorf("%w (in $%s)", err, loc.env)
		}
	}
	if err != nil {
		return nil, "", err
	}
	defer ks.zero()
	drv, err := newDriver(ks, loc.id)
	if err != nil {
		return nil, "", err
	}
	return drv, loc.name(drv.id), nil
}

// nameURL is the canonical name of the key u names, read from the URL
// alone: the file or variable and the key id are the key's identity.
// Without an id the name has none; the keeper opened from such a URL
// names the file's primary key by its id, which only reading the file
// can tell, and nameURL never reads a file.
func nameURL(u *url.URL) (string, error) {
	loc, err := parseURL(u)
	if err != nil {
		return "", err
	}
	return loc.name(loc.id), nil
}

// location is where a URL says the key is: a file path or an environment
// variable, and the key id ("" for the keyset's primary).
type location struct{ path, env, id string }

func (l location) name(id string) string {
	if l.path != "" {
		return FileURL(l.path, id)
	}
	return EnvURL(l.env, id)
}

// parseURL checks u against the URL forms without reading anything.
func parseURL(u *url.URL) (location, error) {
	if u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return location{}, errors.New("localkms: malformed URL: " + urlForms)
	}
	if u.Host != "" {
		return location{}, errors.New("localkms: the key file path must be absolute (three slashes): " + urlForms)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return location{}, errors.New("localkms: malformed URL query: " + urlForms)
	}
	for k, vs := range q {
		if k != "id" && k != "env" {
			return location{}, fmt.Errorf("localkms: unknown URL parameter %q (want id, env)", k)
		}
		if len(vs) != 1 {
			return location{}, fmt.Errorf("localkms: URL parameter %q given %d times", k, len(vs))
		}
	}
	loc := location{path: u.Path, env: q.Get("env"), id: q.Get("id")}
	if q.Has("id") && !idRE.MatchString(loc.id) {
		return location{}, errors.New("localkms: invalid id in URL: use 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	switch {
	case loc.path != "" && q.Has("env"):
		return location{}, errors.New("localkms: give a key file path or env, not both: " + urlForms)
	case loc.path != "":
		if !filepath.IsAbs(loc.path) {
			return location{}, errors.New("localkms: the key file path must be absolute: " + urlForms)
		}
	case q.Has("env"):
		if !envNameRE.MatchString(loc.env) {
			return location{}, errors.New("localkms: invalid environment variable name in URL")
		}
	default:
		return location{}, errors.New("localkms: no key file path or env: " + urlForms)
	}
	return loc, nil
}

// FileURL is the URL of key id in the key file at the absolute path, with
// the path escaped (a path may hold spaces, '?' or '#'). An empty id is
// left out.
func FileURL(path, id string) string {
	u := &url.URL{Scheme: scheme, Path: path}
	if id != "" {
		u.RawQuery = url.Values{"id": {id}}.Encode()
	}
	return u.String()
}

// EnvURL is the URL of key id in the environment variable name. An empty
// id is left out.
func EnvURL(name, id string) string {
	q := url.Values{"env": {name}}
	if id != "" {
		q.Set("id", id)
	}
	return scheme + "://?" + q.Encode()
}
