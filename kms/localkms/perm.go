package localkms

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// ExposedKeyFileError is [CheckURL]'s report of a key file whose
// permission bits let group or others at it: its path and its mode.
type ExposedKeyFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *ExposedKeyFileError) Error() string {
	return fmt.Sprintf("localkms: key file %s has mode %04o: group or others can read it (chmod 600 %s)", e.Path, e.Mode.Perm(), e.Path)
}

// checkKeyFile reports an *ExposedKeyFileError when the key file at path
// grants any permission to group or others. Whoever can read the file can
// unwrap every data key, so a 0644 file (the default of most editors and
// of cp under a common umask) is a leak waiting to happen, not a style
// issue. Opening still works: a key file in a test container or a CI
// secret mount is often 0644 by design, so the caller decides whether to
// warn or refuse. Other errors (a missing file) are returned as they are.
func checkKeyFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &ExposedKeyFileError{Path: path, Mode: fi.Mode()}
	}
	return nil
}

// CheckURL reports an *[ExposedKeyFileError] when the key file a local://
// URL names grants any permission to group or others. Whoever can read the
// file can unwrap every data key, so a 0644 file (the default of most
// editors and of cp under a common umask) is a leak waiting to happen, not
// a style issue. Opening still works: a key file in a test container or a
// CI secret mount is often 0644 by design, so the caller decides whether to
// warn or refuse. Other errors (a missing file) are returned as they are.
// CheckURL returns nil for other schemes and for keys held in an
// environment variable, and an error for a local:// URL that does not
// parse. [FileURL] makes the URL of a path.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != scheme {
		return nil
	}
	loc, err := parseURL(u)
	if err != nil {
		return err
	}
	if loc.path == "" {
		return nil
	}
	return checkKeyFile(loc.path)
}
