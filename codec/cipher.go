package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// Cipher seals and opens the values of one Scope under one version of the
// tenant's data key. It holds the derived subkeys and their ready AEADs, so
// sealing a value costs no key schedule. A Cipher is immutable after
// NewCipher and safe for concurrent use.
//
// A Cipher holds key material: it prints as [redacted] under every fmt verb.
type Cipher struct {
	version uint32
	scope   Scope

	gcmAAD []byte // GCM header ‖ canonical scope
	gcmHdr []byte // a prefix of gcmAAD
	sivAAD []byte
	sivHdr []byte

	k *cipherKeys
}

// cipherKeys is everything in a Cipher that depends on key material, kept
// one pointer away and with no key bytes in a field of its own. fmt
// formats a Cipher that was copied by value (reflection, or a vet warning
// ignored) field by field, bypassing Format; a pointer it cannot format
// under the verb (%s, %q) it expands one level with %v, which prints the
// pointers inside as addresses. So no verb reaches a key schedule.
type cipherKeys struct {
	gcm cipher.AEAD // nonce-prepending AES-256-GCM, for sealing
	// gcmOpen is the same key with an explicit nonce, for opening a parsed
	// Value whose nonce and ciphertext are separate slices, and for
	// SealNonces.
	gcmOpen cipher.AEAD
	siv     *subtle.AESSIV
	// bidx hands out HMAC-SHA256 hashes keyed with the blind-index
	// subkey; the subkey itself lives only in the pool's New closure.
	bidx sync.Pool
}

// NewCipher derives the subkeys of scope from a tenant's data key of the
// given version. dek must be DEKSize bytes; NewCipher keeps no reference
// to it.
func NewCipher(dek []byte, version uint32, scope Scope) (*Cipher, error) {
	if len(dek) != DEKSize {
		return nil, fmt.Errorf("codec: data key must be %d bytes, got %d", DEKSize, len(dek))
	}
	if version == 0 {
		return nil, errors.New("codec: key version must be at least 1")
	}
	gcmKey, err := deriveSubkey(dek, labelGCM, scope.Table, scope.Column, 32)
	if err != nil {
		return nil, fmt.Errorf("codec: derive: %w", err)
	}
	defer clear(gcmKey)
	// sivKey is not cleared: Tink's AESSIV keeps the slice it is given and
	// runs the CTR key schedule from key[32:] on every call, so clearing it
	// here would leave every deterministic value encrypted under an
	// all-zero CTR key (while still round-tripping and authenticating).
	sivKey, err := deriveSubkey(dek, labelSIV, scope.Table, scope.Column, subtle.AESSIVKeySize)
	if err != nil {
		return nil, fmt.Errorf("codec: derive: %w", err)
	}
	bidxKey, err := deriveSubkey(dek, labelBidx, scope.Table, scope.Column, 32)
	if err != nil {
		return nil, fmt.Errorf("codec: derive: %w", err)
	}

	block, err := aes.NewCipher(gcmKey)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	// NewGCMWithRandomNonce draws the nonce inside the AEAD and writes it in
	// front of the ciphertext, which is exactly the v1 layout after the
	// header. Only SealNonces supplies nonces itself, read from crypto/rand
	// in bulk (nonces.go).
	gcm, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	gcmOpen, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	siv, err := subtle.NewAESSIV(sivKey)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}

	c := &Cipher{version: version, scope: scope, k: &cipherKeys{gcm: gcm, gcmOpen: gcmOpen, siv: siv}}
	// The AAD is header ‖ canonical scope; the header is kept as a capped
	// prefix of it so Seal can copy it without a second buffer.
	h := headerLen(version)
	c.gcmAAD = scope.AppendCanonical(appendHeader(nil, AESGCM, version))
	c.gcmHdr = c.gcmAAD[:h:h]
	c.sivAAD = scope.AppendCanonical(appendHeader(nil, AESSIV, version))
	c.sivHdr = c.sivAAD[:h:h]
	c.k.bidx.New = func() any { return hmac.New(sha256.New, bidxKey) }
	return c, nil
}

// Version returns the key version the Cipher seals under.
func (c *Cipher) Version() uint32 { return c.version }

// Scope returns the scope the Cipher is bound to.
func (c *Cipher) Scope() Scope { return c.scope }

// Seal encrypts plaintext with randomized AES-256-GCM and appends the
// stored value to dst. With dst nil it allocates exactly once.
func (c *Cipher) Seal(dst, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	dst = slices.Grow(dst, len(c.gcmHdr)+nonceSize+len(plaintext)+tagSize)
	dst = append(dst, c.gcmHdr...)
	return c.k.gcm.Seal(dst, nil, plaintext, c.gcmAAD), nil
}

// SealDeterministic encrypts plaintext with AES-SIV: the same plaintext in
// the same scope and key version always gives the same value.
func (c *Cipher) SealDeterministic(dst, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	ct, err := c.k.siv.EncryptDeterministically(plaintext, c.sivAAD)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	dst = slices.Grow(dst, len(c.sivHdr)+len(ct))
	dst = append(dst, c.sivHdr...)
	return append(dst, ct...), nil
}

// Open authenticates and decrypts a value sealed by Seal or
// SealDeterministic for this scope and key version, appending the
// plaintext to dst. Every failure is ErrAuth.
func (c *Cipher) Open(dst, value []byte) ([]byte, error) {
	v, err := Parse(value)
	if err != nil {
		return nil, ErrAuth
	}
	return c.OpenValue(dst, v)
}

// OpenValue is Open for a value already split by Parse, for callers that
// parse first to find the key version and should not parse twice. Every
// failure is ErrAuth.
func (c *Cipher) OpenValue(dst []byte, v Value) ([]byte, error) {
	if v.KeyVersion != c.version {
		return nil, ErrAuth
	}
	// The AAD is always this Cipher's own header ‖ scope, never bytes taken
	// from v: a header that parsed to this algorithm and version has
	// exactly those bytes, and one that did not cannot authenticate.
	switch v.Algorithm {
	case AESGCM:
		if len(v.Nonce) != nonceSize {
			return nil, ErrAuth
		}
		out, err := c.k.gcmOpen.Open(dst, v.Nonce, v.Ciphertext, c.gcmAAD)
		if err != nil {
			return nil, ErrAuth
		}
		return out, nil
	case AESSIV:
		out, err := c.k.siv.DecryptDeterministically(v.Ciphertext, c.sivAAD)
		if err != nil {
			return nil, ErrAuth
		}
		return append(dst, out...), nil
	}
	return nil, ErrAuth
}

// String, GoString and Format keep key material out of every fmt verb.
func (c *Cipher) String() string   { return "[redacted]" }
func (c *Cipher) GoString() string { return "[redacted]" }

// Format implements fmt.Formatter so %x, %v, %+v and %#v all redact.
func (c *Cipher) Format(f fmt.State, verb rune) { f.Write([]byte("[redacted]")) }

// MarshalJSON redacts the Cipher in JSON.
func (c *Cipher) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
