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
//	local:///abs/path/to/keyfile?id=k1      a key file (format below)
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
// A key file holds one key per line, "id:base64(32 bytes)", with blank
// lines and lines starting with # ignored:
//
//	# colcrypt localkms master keys
//	k1:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=
//
// that is, the id, a colon, and 44 characters of standard, padded base64.
// Ids are 1 to 64 of A–Z a–z 0–9 . _ -. Parsing is strict: a malformed
// line, a key of the wrong size or a repeated id is an error, and no error
// quotes key material. In an environment variable, keys may also be
// separated by commas.
//
// A key file must be readable by its owner only: [GenerateKeyFile] (and
// "colcrypt keys new-local-key") create it with mode 0600, and [CheckURL]
// reports one that group or others may read (an [ExposedKeyFileError]);
// the colcrypt CLI warns on such a file whenever it opens one.
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
// 16-byte tag, with the version byte and the wrap context's canonical
// encoding (kms.WrapContext.AAD) as GCM's additional data. The master
// key's identity is not in the blob: it is the key URI stored beside it.
package localkms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/kms"
)

const (
	blobVersion = 0x01
	nonceSize   = 12
	tagSize     = 16
	// maxPlaintextSize is the largest plaintext Wrap accepts, the same as
	// Cloud KMS's, so that code developed against localkms does not break
	// in production. Data keys are 32 bytes.
	maxPlaintextSize = 64 << 10
	minBlob          = 1 + nonceSize + 1 + tagSize // the plaintext is never empty
	maxBlob          = 1 + nonceSize + maxPlaintextSize + tagSize
)

var errClosed = errors.New("localkms: driver is closed")

// driver wraps data keys with one master key. It is safe for concurrent
// use. It prints its key id, never its key.
type driver struct {
	id   string
	aead atomic.Pointer[cipher.AEAD] // nil after Close
}

var _ kms.Driver = (*driver)(nil)

// newDriver returns a driver for the key with the given id in ks, or for
// its only key when id is empty. The driver keeps its own copy of the key
// (inside the AES cipher), so ks may be discarded.
func newDriver(ks *keyset, id string) (*driver, error) {
	if ks == nil || len(ks.ids) == 0 {
		return nil, errors.New("localkms: no keys")
	}
	if id == "" {
		if len(ks.ids) != 1 {
			ids := slices.Sorted(slices.Values(ks.ids))
			return nil, fmt.Errorf("localkms: %d keys (%s): choose one with an id", len(ids), strings.Join(ids, ", "))
		}
		id = ks.ids[0]
	}
	key, ok := ks.keys[id]
	if !ok {
		ids := slices.Sorted(slices.Values(ks.ids))
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
	d := &driver{id: id}
	d.aead.Store(&aead)
	return d, nil
}

// gcmAAD authenticates the version byte along with the wrap context's encoding, so a
// later format cannot be confused with this one.
func gcmAAD(aad []byte) []byte {
	return append([]byte{blobVersion}, aad...)
}

// Wrap encrypts plaintext under the master key, binding wc's canonical
// encoding.
func (d *driver) Wrap(ctx context.Context, plaintext []byte, wc kms.WrapContext) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkms: wrap: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, errors.New("localkms: wrap: empty plaintext")
	}
	if len(plaintext) > maxPlaintextSize {
		return nil, fmt.Errorf("localkms: wrap: plaintext is %d bytes, max %d", len(plaintext), maxPlaintextSize)
	}
	aead := d.aead.Load()
	if aead == nil {
		return nil, errClosed
	}
	// A random 96-bit nonce per wrap: a master key wraps one data key per
	// tenant and version, far below the 2^32 messages where random GCM
	// nonces start to risk a collision.
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = blobVersion
	rand.Read(out[1:])
	return (*aead).Seal(out, out[1:1+nonceSize], plaintext, gcmAAD(wc.AAD())), nil
}

// Unwrap decrypts a blob from Wrap. Every way it can fail to authenticate
// returns kms.ErrUnwrap.
func (d *driver) Unwrap(ctx context.Context, ciphertext []byte, wc kms.WrapContext) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localkms: unwrap: %w", err)
	}
	aead := d.aead.Load()
	if aead == nil {
		return nil, errClosed
	}
	if len(ciphertext) < minBlob || len(ciphertext) > maxBlob || ciphertext[0] != blobVersion {
		return nil, kms.ErrUnwrap
	}
	pt, err := (*aead).Open(nil, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], gcmAAD(wc.AAD()))
	if err != nil {
		return nil, kms.ErrUnwrap
	}
	return pt, nil
}

// Close drops the driver's cipher; later calls fail. The Go
// runtime gives no way to erase the AES key schedule itself; dropping it
// leaves it to the garbage collector.
func (d *driver) Close() error {
	d.aead.Store(nil)
	return nil
}

// String names the key id and redacts the key.
func (d *driver) String() string { return "localkms(" + d.id + ", key " + redacted + ")" }

// GoString is String.
func (d *driver) GoString() string { return d.String() }

// Format prints String under every verb.
func (d *driver) Format(f fmt.State, _ rune) { io.WriteString(f, d.String()) }
