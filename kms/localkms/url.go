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

// Scheme is the kms.Open URL scheme of this driver.
const Scheme = "local"

func init() { kms.Register(Scheme, openURL) }

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

const urlForms = "want local:///abs/path/to/keyfile?id=k1 or local://?env=NAME&id=k1"

// openURL opens the URL forms in the package doc. Its errors quote the
// path, the variable's name and parameter names, never parameter values
// (a key pasted into a URL by mistake must not end up in a log).
func openURL(_ context.Context, u *url.URL) (kms.Driver, string, error) {
	if u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return nil, "", errors.New("localkms: malformed URL: " + urlForms)
	}
	if u.Host != "" {
		return nil, "", errors.New("localkms: the key file path must be absolute (three slashes): " + urlForms)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, "", errors.New("localkms: malformed URL query: " + urlForms)
	}
	for k, vs := range q {
		if k != "id" && k != "env" {
			return nil, "", fmt.Errorf("localkms: unknown URL parameter %q (want id, env)", k)
		}
		if len(vs) != 1 {
			return nil, "", fmt.Errorf("localkms: URL parameter %q given %d times", k, len(vs))
		}
	}
	id, env, path := q.Get("id"), q.Get("env"), u.Path
	if q.Has("id") && !idRE.MatchString(id) {
		return nil, "", errors.New("localkms: invalid id in URL: use 1 to 64 of A-Z a-z 0-9 . _ -")
	}

	var ks *Keyset
	switch {
	case path != "" && q.Has("env"):
		return nil, "", errors.New("localkms: give a key file path or env, not both: " + urlForms)
	case path != "":
		if !filepath.IsAbs(path) {
			return nil, "", errors.New("localkms: the key file path must be absolute: " + urlForms)
		}
		ks, err = ReadKeyFile(path)
	case q.Has("env"):
		if !envNameRE.MatchString(env) {
			return nil, "", errors.New("localkms: invalid environment variable name in URL")
		}
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, "", fmt.Errorf("localkms: environment variable %s is not set", env)
		}
		ks, err = parseKeyset([]byte(v), true)
		if err != nil {
			err = fmt.Errorf("%w (in $%s)", err, env)
		}
	default:
		return nil, "", errors.New("localkms: no key file path or env: " + urlForms)
	}
	if err != nil {
		return nil, "", err
	}
	defer ks.zero()
	drv, err := New(ks, id)
	if err != nil {
		return nil, "", err
	}

	if path != "" {
		return drv, FileURL(path, drv.id), nil
	}
	return drv, EnvURL(env, drv.id), nil
}

// FileURL is the URL of key id in the key file at the absolute path, with
// the path escaped (a path may hold spaces, '?' or '#'). An empty id is
// left out.
func FileURL(path, id string) string {
	u := &url.URL{Scheme: Scheme, Path: path}
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
	return Scheme + "://?" + q.Encode()
}
