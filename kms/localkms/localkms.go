// Package localkms is a master key held by the application itself, read
// from a key file or an environment variable. It is for development, tests
// and demos. IT IS NOT A PRODUCTION KMS: the master key sits in the
// process's memory and on its disk, so anyone who can read those can
// unwrap every data key; there is no access control, audit log or
// hardware protection. Use a cloud KMS (kms/gcpkms) for real data.
//
// # URLs
//
// Importing the package registers the "local" scheme with kms.Open:
//
//	local:///abs/path/to/keyfile?id=k1      a key file (see Keyset for its format)
//	local://?env=COLCRYPT_MASTER_KEYS&id=k1  the same format in an environment variable
//
// id may be left out when the file or variable holds exactly one key. The
// key URI stored beside each wrapped data key always names the id, so that
// after a rotation adds a key, older data keys still find theirs. It holds
// the path or the variable's name, never key material. The path must be
// absolute, because the URI must mean the same key from any working
// directory. [FileURL] builds a file URL with the path escaped.
//
// # Key files
//
// A key file must be readable by its owner only: [GenerateKeyFile] (and
// "colcrypt keys new-local-key") create it with mode 0600, and
// [CheckKeyFile] and [CheckURL] report one that group or others may read
// ([ErrKeyFileExposed]); the colcrypt CLI warns on such a file whenever it
// opens one.
//
// # Rotation
//
// [GenerateKeyFile] appends a key to a key file. Open the new id to wrap
// new data keys, and rewrap the old ones (keystore's Rewrap); keep the old
// line until none is left.
//
// # Wrapped format
//
// A wrapped key is 0x01 ‖ 12-byte random nonce ‖ AES-256-GCM ciphertext ‖
// 16-byte tag, with the version byte and the caller's aad as GCM's
// additional data. The master key's identity is not in the blob: it is the
// key URI stored beside it.
package localkms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/kms"
)

const (
	blobVersion = 0x01
	nonceSize   = 12
	tagSize     = 16
	// MaxPlaintextSize is the largest plaintext Wrap accepts, the same as
	// Cloud KMS's, so that code developed against localkms does not break
	// in production. Data keys are 32 bytes.
	MaxPlaintextSize = 64 << 10
	minBlob          = 1 + nonceSize + 1 + tagSize // the plaintext is never empty
	maxBlob          = 1 + nonceSize + MaxPlaintextSize + tagSize
)

// ErrClosed is returned by a Driver after Close.
var ErrClosed = errors.New("localkms: driver is closed")

// Driver wraps data keys with one master key. It is safe for concurrent
// use. It prints its key id, never its key.
type Driver struct {
	id   string
	aead atomic.Pointer[cipher.AEAD] // nil after Close
}

var _ kms.Driver = (*Driver)(nil)

// New returns a driver for the key with the given id in ks, or for its only
// key when id is empty. The driver keeps its own copy of the key (inside
// the AES cipher), so ks may be discarded.
func New(ks *Keyset, id string) (*Driver, error) {
	if ks == nil || len(ks.ids) == 0 {
		return nil, errors.New("localkms: no keys")
	}
	if id == "" {
		if len(ks.ids) != 1 {
			ids := ks.IDs()
			sort.Strings(ids)
			return nil, fmt.Errorf("localkms: %d keys (%s): choose one with an id", len(ids), strings.Join(ids, ", "))
		}
		id = ks.ids[0]
	}
	key, ok := ks.keys[id]
	if !ok {
		ids := ks.IDs()
		sort.Strings(ids)
		return nil, fmt.Errorf("localkms: no key with id %q (have %s)", id, strings.Join(ids, ", "))
	}
	block, err := aes.NewCipher(key.Bytes())
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	d := &Driver{id: id}
	d.aead.Store(&aead)
	return d, nil
}

// KeyID is the id of the driver's master key.
func (d *Driver) KeyID() string { return d.id }

// gcmAAD authenticates the version byte along with the caller's aad, so a
// later format cannot be confused with this one.
func gcmAAD(aad []byte) []byte {
	return append([]byte{blobVersion}, aad...)
}

// Wrap encrypts plaintext under the master key, binding aad.
func (d *Driver) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkms: wrap: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, kms.ErrEmptyPlaintext
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("localkms: wrap: plaintext is %d bytes, max %d", len(plaintext), MaxPlaintextSize)
	}
	aead := d.aead.Load()
	if aead == nil {
		return nil, ErrClosed
	}
	// A random 96-bit nonce per wrap: a master key wraps one data key per
	// tenant and version, far below the 2^32 messages where random GCM
	// nonces start to risk a collision.
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = blobVersion
	rand.Read(out[1:])
	return (*aead).Seal(out, out[1:1+nonceSize], plaintext, gcmAAD(aad)), nil
}

// Unwrap decrypts a blob from Wrap. Every way it can fail to authenticate
// returns kms.ErrUnwrap.
func (d *Driver) Unwrap(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkms: unwrap: %w", err)
	}
	aead := d.aead.Load()
	if aead == nil {
		return nil, ErrClosed
	}
	if len(ciphertext) < minBlob || len(ciphertext) > maxBlob || ciphertext[0] != blobVersion {
		return nil, kms.ErrUnwrap
	}
	pt, err := (*aead).Open(nil, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], gcmAAD(aad))
	if err != nil {
		return nil, kms.ErrUnwrap
	}
	return pt, nil
}

// Close drops the driver's cipher; later calls return ErrClosed. The Go
// runtime gives no way to erase the AES key schedule itself; dropping it
// leaves it to the garbage collector.
func (d *Driver) Close() error {
	d.aead.Store(nil)
	return nil
}

// String names the key id and redacts the key.
func (d *Driver) String() string { return "localkms.Driver(" + d.id + ", key " + redacted + ")" }

// GoString is String.
func (d *Driver) GoString() string { return d.String() }

// Format prints String under every verb.
func (d *Driver) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }
