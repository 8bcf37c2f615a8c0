package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/internal/secret"
	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// Cipher seals and opens the values of one Scope under one version of the
// tenant's data key. It holds the derived subkeys and their ready AEADs, so
// sealing a value costs no key schedule. A Cipher is immutable after
// NewCipher, until Destroy, and safe for concurrent use.
//
// A Cipher holds key material: it prints as [redacted] under every fmt
// verb, in JSON and in log/slog, by pointer and by value.
//
// # Destroy
//
// Destroy zeroes the subkey bytes the Cipher holds and makes every later
// call fail with [ErrCipherDestroyed]. A Cipher that is never destroyed
// has the same bytes zeroed when the garbage collector finds it
// unreachable. What neither can reach is the key material that the
// standard library and Tink derive and keep inside their own types: the
// AES-256 key schedule of the GCM subkey (crypto/aes), the AES-256 key
// schedule and the two CMAC subkeys of the SIV MAC key (Tink's internal
// aescmac), and the inner and outer HMAC pads of the blind-index subkey
// (crypto/hmac). Destroy drops its references to them, so the garbage
// collector reclaims them, without zeroing them.
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
	// destroyed is set first by destroy. The GCM paths only load it: they
	// read no byte that destroy clears (the GCM subkey lives only in the
	// AES key schedule), so the hot path takes no lock.
	destroyed atomic.Bool
	// mu is held for reading while the SIV or blind-index subkey bytes are
	// in use and for writing while destroy clears them, so that no value
	// is ever sealed under a half-cleared key.
	mu sync.RWMutex

	gcm cipher.AEAD // nonce-prepending AES-256-GCM, for sealing
	// gcmOpen is the same key with an explicit nonce, for opening a parsed
	// Value whose nonce and ciphertext are separate slices, and for
	// SealNonces.
	gcmOpen cipher.AEAD
	siv     *subtle.AESSIV
	// sivKey is the slice Tink's AESSIV keeps and reads on every call.
	sivKey *secret.Bytes
	// bidx hands out HMAC-SHA256 hashes keyed with bidxKey.
	bidxKey *secret.Bytes
	bidx    sync.Pool
}

// ErrCipherDestroyed is returned by every method of a Cipher that seals,
// opens or indexes after Destroy: the key it was derived from was
// destroyed (shredded, or its store closed). It is not ErrAuth: the value
// may be intact.
var ErrCipherDestroyed = errors.New("codec: cipher destroyed")

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
	// sivKey is not cleared here: Tink's AESSIV keeps the slice it is
	// given and runs the CTR key schedule from key[32:] on every call, so
	// clearing it would leave every deterministic value encrypted under an
	// all-zero CTR key (while still round-tripping and authenticating).
	// Destroy clears it, under the write lock that SealDeterministic and
	// OpenValue hold for reading.
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

	k := &cipherKeys{gcm: gcm, gcmOpen: gcmOpen, siv: siv, sivKey: secret.New(sivKey), bidxKey: secret.New(bidxKey)}
	k.bidx.New = func() any { return hmac.New(sha256.New, k.bidxKey.Bytes()) }
	c := &Cipher{version: version, scope: scope, k: k}
	// A Cipher dropped without Destroy (an evicted key's, once the last
	// statement holding it is done) has its subkey bytes zeroed all the
	// same when it is collected.
	runtime.AddCleanup(c, (*cipherKeys).destroy, k)
	// The AAD is header ‖ canonical scope; the header is kept as a capped
	// prefix of it so Seal can copy it without a second buffer.
	h := headerLen(version)
	c.gcmAAD = scope.AppendCanonical(appendHeader(nil, AESGCM, version))
	c.gcmHdr = c.gcmAAD[:h:h]
	c.sivAAD = scope.AppendCanonical(appendHeader(nil, AESSIV, version))
	c.sivHdr = c.sivAAD[:h:h]
	return c, nil
}

// Version returns the key version the Cipher seals under.
func (c *Cipher) Version() uint32 { return c.version }

// Scope returns the scope the Cipher is bound to.
func (c *Cipher) Scope() Scope { return c.scope }

// Seal encrypts plaintext with randomized AES-256-GCM and appends the
// stored value to dst. With dst nil it allocates exactly once.
func (c *Cipher) Seal(dst, plaintext []byte) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
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
	c.k.mu.RLock()
	if c.k.destroyed.Load() {
		c.k.mu.RUnlock()
		return nil, ErrCipherDestroyed
	}
	ct, err := c.k.siv.EncryptDeterministically(plaintext, c.sivAAD)
	c.k.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	dst = slices.Grow(dst, len(c.sivHdr)+len(ct))
	dst = append(dst, c.sivHdr...)
	return append(dst, ct...), nil
}

// Open authenticates and decrypts a value sealed by Seal or
// SealDeterministic for this scope and key version, appending the
// plaintext to dst. Every failure is ErrAuth, except ErrCipherDestroyed
// after Destroy.
func (c *Cipher) Open(dst, value []byte) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	// A GCM value under this version starts with exactly c.gcmHdr (a
	// header's version is a canonical varint, so one version has one
	// header): it opens without the general parse, which is a fair part
	// of what a small value costs beyond the AES-GCM itself.
	if h := len(c.gcmHdr); len(value) >= h+nonceSize+tagSize && len(value) <= MaxValueSize &&
		string(value[:h]) == string(c.gcmHdr) {
		out, err := c.k.gcmOpen.Open(dst, value[h:h+nonceSize:h+nonceSize], value[h+nonceSize:], c.gcmAAD)
		if err != nil {
			return nil, ErrAuth
		}
		return out, nil
	}
	v, err := Parse(value)
	if err != nil {
		return nil, ErrAuth
	}
	return c.OpenValue(dst, v)
}

// OpenValue is Open for a value already split by Parse, for callers that
// parse first to find the key version and should not parse twice. Every
// failure is ErrAuth, except ErrCipherDestroyed after Destroy.
func (c *Cipher) OpenValue(dst []byte, v Value) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
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
		c.k.mu.RLock()
		if c.k.destroyed.Load() {
			c.k.mu.RUnlock()
			return nil, ErrCipherDestroyed
		}
		out, err := c.k.siv.DecryptDeterministically(v.Ciphertext, c.sivAAD)
		c.k.mu.RUnlock()
		if err != nil {
			return nil, ErrAuth
		}
		return append(dst, out...), nil
	}
	return nil, ErrAuth
}

// Destroy zeroes the subkey bytes the Cipher holds and drops its AEADs and
// hashes; from then on every method that seals, opens or indexes returns
// ErrCipherDestroyed. It waits for deterministic seals and opens and
// blind indexes in flight, so none of them reads a half-cleared key. It
// is idempotent and safe to call concurrently with any other method. See
// the Cipher's doc for what the standard library keeps out of its reach.
func (c *Cipher) Destroy() { c.k.destroy() }

// Destroyed reports whether Destroy was called.
func (c *Cipher) Destroyed() bool { return c.k.destroyed.Load() }

func (k *cipherKeys) destroy() {
	if k.destroyed.Swap(true) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sivKey.Clear()
	k.bidxKey.Clear()
	// Empty the pool so its hashes, whose pads are derived from the
	// blind-index subkey, become garbage now rather than at the
	// pool's next clean-up; nothing refills it (BlindIndex checks
	// destroyed under the read lock).
	k.bidx.New = nil
	for k.bidx.Get() != nil {
	}
}

// String, GoString, Format, MarshalJSON and LogValue keep key material out
// of every fmt verb, JSON and log/slog. Their receivers are values, so a
// Cipher copied by value redacts too.
func (Cipher) String() string   { return "[redacted]" }
func (Cipher) GoString() string { return "[redacted]" }

// Format implements fmt.Formatter so %x, %v, %+v and %#v all redact.
func (Cipher) Format(f fmt.State, verb rune) { f.Write([]byte("[redacted]")) }

// MarshalJSON redacts the Cipher in JSON.
func (Cipher) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// LogValue redacts the Cipher in log/slog.
func (Cipher) LogValue() slog.Value { return slog.StringValue("[redacted]") }

var (
	_ fmt.Formatter  = Cipher{}
	_ slog.LogValuer = Cipher{}
)
