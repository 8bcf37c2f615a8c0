package localkms

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// ErrKeyFileExposed is matched (through an *ExposedKeyFileError) by a key
// file that users other than its owner may read or write.
var ErrKeyFileExposed = errors.New("localkms: key file is readable or writable by group or others")

// ExposedKeyFileError names a key file whose permission bits let group or
// others at it, and its mode. It matches ErrKeyFileExposed.
type ExposedKeyFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *ExposedKeyFileError) Error() string {
	return fmt.Sprintf("localkms: key file %s has mode %04o: group or others can read it (chmod 600 %s)", e.Path, e.Mode.Perm(), e.Path)
}

func (e *ExposedKeyFileError) Is(target error) bool { return target == ErrKeyFileExposed }

// CheckKeyFile reports an *ExposedKeyFileError when the key file at path
// grants any permission to group or others. Whoever can read the file can
// unwrap every data key, so a 0644 file (the default of most editors and
// of cp under a common umask) is a leak waiting to happen, not a style
// issue. Opening still works: a key file in a test container or a CI
// secret mount is often 0644 by design, so the caller decides whether to
// warn or refuse. Other errors (a missing file) are returned as they are.
func CheckKeyFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return &ExposedKeyFileError{Path: path, Mode: fi.Mode()}
	}
	return nil
}

// CheckURL is CheckKeyFile for the key file a local:// URL names. It
// returns nil for other schemes and for keys held in an environment
// variable, and an error for a local:// URL that does not parse.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != Scheme {
		return nil
	}
	loc, err := parseURL(u)
	if err != nil {
		return err
	}
	if loc.path == "" {
		return nil
	}
	return CheckKeyFile(loc.path)
}
