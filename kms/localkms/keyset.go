package localkms

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/colcrypt/colcrypt/internal/secret"
)

// errNoKeys is the error for a key set with no keys; GenerateKeyFile may
// still add a key to such a file.
var errNoKeys = errors.New("localkms: no keys found (want lines of id:base64-key)")

// keySize is the size of a master key: AES-256.
const keySize = 32

// maxKeysetSize bounds what parseKeyset reads: a key line is about 110
// bytes, so this is thousands of keys, and no input can make the parser
// allocate without bound.
const maxKeysetSize = 1 << 20

// idRE is what a key id may be: short, and free of the characters the file
// format and URLs give meaning to.
var idRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// keyset is a set of master keys by id, as read from a key file or an
// environment variable (the format is in the package doc). It prints as
// [redacted] under every fmt verb and in JSON.
type keyset struct {
	keys map[string]*secret.Bytes // two pointers from the keyset, see package secret
	ids  []string                 // in file order
}

// newKeyset copies keys into a keyset, checking ids and key sizes.
func newKeyset(keys map[string][]byte) (*keyset, error) {
	ks := &keyset{keys: make(map[string]*secret.Bytes, len(keys))}
	for id, k := range keys {
		if !idRE.MatchString(id) {
			return nil, errors.New("localkms: invalid key id: use 1 to 64 of A-Z a-z 0-9 . _ -")
		}
		if len(k) != keySize {
			return nil, fmt.Errorf("localkms: key %q is %d bytes, want %d", id, len(k), keySize)
		}
		ks.keys[id] = secret.New(bytes.Clone(k))
		ks.ids = append(ks.ids, id)
	}
	if len(ks.ids) == 0 {
		return nil, errors.New("localkms: no keys")
	}
	return ks, nil
}

// parseKeyset parses data. In an environment variable (env), keys may also
// be separated by commas, since a multi-line value is awkward in many
// deployment systems; base64 and ids contain no commas.
func parseKeyset(data []byte, env bool) (*keyset, error) {
	if len(data) > maxKeysetSize {
		return nil, fmt.Errorf("localkms: key set is %d bytes, max %d", len(data), maxKeysetSize)
	}
	ks := &keyset{keys: map[string]*secret.Bytes{}}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entries := []string{line}
		if env {
			entries = strings.Split(line, ",")
		}
		for _, entry := range entries {
			if err := ks.addLine(strings.TrimSpace(entry)); err != nil {
				return nil, fmt.Errorf("localkms: line %d: %w", i+1, err)
			}
		}
	}
	if len(ks.ids) == 0 {
		ks.zero()
		return nil, errNoKeys
	}
	return ks, nil
}

// addLine adds one "id:base64" entry. Its errors name the id at most: the
// id is checked before it is quoted, and the key part is never quoted.
func (ks *keyset) addLine(entry string) error {
	id, b64, ok := strings.Cut(entry, ":")
	id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
	switch {
	case entry == "":
		return errors.New("empty entry")
	case !ok:
		return errors.New("want id:base64-key")
	case !idRE.MatchString(id):
		return errors.New("invalid key id: use 1 to 64 of A-Z a-z 0-9 . _ -")
	case ks.keys[id] != nil:
		return fmt.Errorf("key id %q appears twice", id)
	case base64.StdEncoding.DecodedLen(len(b64)) > keySize+2:
		return fmt.Errorf("key %q is too long: want %d bytes in standard base64", id, keySize)
	}
	var buf [keySize + 2]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(b64))
	defer clear(buf[:])
	if err != nil {
		return fmt.Errorf("key %q is not valid standard base64", id)
	}
	if n != keySize {
		return fmt.Errorf("key %q is %d bytes, want %d", id, n, keySize)
	}
	ks.keys[id] = secret.New(bytes.Clone(buf[:n]))
	ks.ids = append(ks.ids, id)
	return nil
}

// readKeyFile reads and parses a key file.
func readKeyFile(path string) (*keyset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysetSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("localkms: reading %s: %w", path, err)
	}
	ks, err := parseKeyset(data, false)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return ks, nil
}

// zero overwrites the keys. The opener calls it once the driver holds its
// cipher, so a parsed key file does not linger in memory.
func (ks *keyset) zero() {
	for _, k := range ks.keys {
		k.Clear()
	}
}

const redacted = "[redacted]"

// String returns "[redacted]".
func (keyset) String() string { return redacted }

// GoString returns "[redacted]".
func (keyset) GoString() string { return redacted }

// Format prints "[redacted]" under every verb, so that no fmt call, %#v
// and %x included, can print key bytes.
func (keyset) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (keyset) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]", for encoders other than JSON.
func (keyset) MarshalText() ([]byte, error) { return []byte(redacted), nil }

const keyFileHeader = `# colcrypt localkms master keys: FOR DEVELOPMENT AND TESTS ONLY.
# Keep this file secret (mode 0600). One key per line: id:base64(32 bytes).
# Add a key with localkms.GenerateKeyFile; keep old keys while data keys
# wrapped by them remain.
`

// GenerateKeyFile adds a new random key with the given id to the key file
// at path, creating it with mode 0600 if it does not exist. Appending, not
// replacing, is what lets a master key rotate: data keys wrapped under the
// old id stay readable while they are rewrapped under the new one. It
// refuses an id already in the file and a file that does not parse.
func GenerateKeyFile(path, id string) error {
	if !idRE.MatchString(id) {
		return errors.New("localkms: invalid key id: use 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	var prefix string
	existing, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		prefix = keyFileHeader
	case err != nil:
		return fmt.Errorf("localkms: %w", err)
	default:
		ks, err := parseKeyset(existing, false)
		switch {
		case errors.Is(err, errNoKeys):
		case err != nil:
			clear(existing)
			return fmt.Errorf("%w (in %s; not adding a key to it)", err, path)
		default:
			_, dup := ks.keys[id]
			ks.zero()
			if dup {
				clear(existing)
				return fmt.Errorf("localkms: key id %q is already in %s", id, path)
			}
		}
		if len(existing) > 0 && existing[len(existing)-1] != '\n' {
			prefix = "\n"
		}
		clear(existing)
	}

	var key [keySize]byte
	rand.Read(key[:])
	line := make([]byte, 0, len(prefix)+len(id)+1+base64.StdEncoding.EncodedLen(keySize)+1)
	line = append(line, prefix...)
	line = append(line, id...)
	line = append(line, ':')
	line = base64.StdEncoding.AppendEncode(line, key[:])
	line = append(line, '\n')
	clear(key[:])
	defer clear(line)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("localkms: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("localkms: writing %s: %w", path, err)
	}
	return nil
}
