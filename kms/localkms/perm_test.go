package localkms

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.keys")
	if err := GenerateKeyFile(path, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := checkKeyFile(path); err != nil {
		t.Errorf("CheckKeyFile(0600 file) = %v, want nil", err)
	}
	if err := CheckURL(FileURL(path, "k1")); err != nil {
		t.Errorf("CheckURL(0600 file) = %v, want nil", err)
	}
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o660, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		err := CheckURL(FileURL(path, "k1"))
		var ex *ExposedKeyFileError
		if !errors.As(err, &ex) || ex.Mode.Perm() != mode || ex.Path != path {
			t.Errorf("CheckURL(%04o file) = %v, want an ExposedKeyFileError", mode, err)
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "localkms: ") || !strings.Contains(err.Error(), "chmod 600")) {
			t.Errorf("CheckURL(%04o file) error %q: want the package prefix and the fix", mode, err)
		}
	}
	// Not a key file to check: other schemes, a key in the environment.
	for _, u := range []string{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "local://?env=COLCRYPT_MASTER_KEYS&id=k1", "::"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
	if err := CheckURL(FileURL(filepath.Join(dir, "missing"), "k1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckURL(missing file) = %v, want fs.ErrNotExist", err)
	}
}
