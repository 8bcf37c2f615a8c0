// Package kms is colcrypt's boundary to a key management service.
//
// colcrypt never sends data to the KMS. It sends only data keys (DEKs): 32
// random bytes per tenant and key version, wrapped by a master key (KEK) that
// never leaves the KMS. A [Keeper] is what the rest of colcrypt holds; it is
// a thin, concrete type over a small [Driver] interface that each backend
// implements, so cross-cutting behaviour (closed state, error wrapping, the
// retryable classification) lives in one place.
//
// # URLs
//
// [Open] picks a driver by URL scheme. Drivers register themselves when their
// package is imported, like database/sql drivers:
//
//	import _ "github.com/colcrypt/colcrypt/kms/gcpkms"   // gcpkms://projects/…/cryptoKeys/…
//	import _ "github.com/colcrypt/colcrypt/kms/localkms" // local:///path/to/keyfile?id=k1
//
// A URL says which key and how to reach it. [Name] keeps only the first
// part, the canonical name that [Keeper.URI] returns and key tables store
// (for Cloud KMS the CryptoKey without endpoint, insecure or
// skip_integrity_checks). Name only parses, so it is safe on names read
// back from a database; opening what such a name says would let whoever
// wrote it choose the KMS.
//
// # Errors
//
// Every error a Keeper returns is prefixed "kms:" and wraps the driver's
// error once. [ErrUnwrap] is returned, for every driver, when a blob cannot be
// unwrapped because it is tampered, was wrapped under another master key, or
// was wrapped with other associated data: callers cannot and should not tell
// those apart. [IsRetryable] reports whether an error is transient
// (unavailable, throttled, deadline exceeded).
package kms

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Driver is implemented by each KMS backend. Implementations must be safe
// for concurrent use, must not retain or modify the slices they are given,
// and must return a fresh slice from Unwrap.
//
// A nil aad and an empty aad are the same associated data: protobuf cannot
// tell them apart on the wire, and AES-GCM authenticates them identically.
//
// Error contract:
//   - Unwrap returns an error that matches [ErrUnwrap] (errors.Is) when the
//     ciphertext is not authentic under this key and aad: tampered, wrapped
//     by another key, wrapped with other aad, or truncated.
//   - Wrap returns an error that matches [ErrEmptyPlaintext] for a nil or
//     empty plaintext, without calling the KMS: a data key is never empty,
//     and Cloud KMS rejects an empty plaintext anyway, so every driver
//     refuses it the same way.
//   - Transient failures return an error for which [IsRetryable] is true,
//     typically by implementing Retryable() bool.
//   - A cancelled or expired ctx returns an error that matches ctx.Err().
//   - No error and no log line may contain plaintext key bytes.
type Driver interface {
	// Wrap encrypts plaintext (a data key) under the master key, binding aad.
	// Two calls with the same input must return different ciphertexts.
	Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Unwrap reverses Wrap; aad must be the one given to Wrap.
	Unwrap(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
	// Close releases the driver's resources.
	Close() error
}

// ErrUnwrap is the one error for every way a wrapped key can fail to
// authenticate.
var ErrUnwrap = errors.New("kms: unwrap failed")

// ErrEmptyPlaintext is returned by Wrap for a nil or empty plaintext.
var ErrEmptyPlaintext = errors.New("kms: empty plaintext")

// ErrClosed is returned by a Keeper after Close.
var ErrClosed = errors.New("kms: keeper is closed")

// ErrUnknownScheme is returned by Open for a URL whose scheme no imported
// driver registered.
var ErrUnknownScheme = errors.New("kms: unknown URL scheme")

// lookupScheme returns the driver registered for scheme.
func lookupScheme(name string) (entry, error) {
	registryMu.RLock()
	sc, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return entry{}, fmt.Errorf("%w %q (registered: %s)", ErrUnknownScheme, name, strings.Join(Schemes(), ", "))
	}
	return sc, nil
}

// IsRetryable reports whether err, or an error it wraps, is a transient KMS
// failure worth retrying with backoff: the service was unavailable,
// throttled, or timed out on its side. Cancellation of the caller's own
// context is not retryable.
func IsRetryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

// RetryableError marks Err as transient. Drivers return it for errors that
// [IsRetryable] must accept.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string   { return e.Err.Error() }
func (e *RetryableError) Unwrap() error   { return e.Err }
func (e *RetryableError) Retryable() bool { return true }

// Keeper wraps and unwraps data keys with one master key. It is safe for
// concurrent use.
type Keeper struct {
	uri string
	drv Driver

	mu     sync.RWMutex
	closed bool
}

// NewKeeper returns a Keeper over drv. uri names the master key; it is
// stored in the key table beside every key the Keeper wraps, so it must
// identify the key and hold no secret. A URI of a registered scheme is
// reduced to its canonical name (see [Name]), so that connection options
// given here (an endpoint, say) never reach the key table.
func NewKeeper(uri string, drv Driver) *Keeper {
	if name, err := Name(uri); err == nil {
		uri = name
	}
	return &Keeper{uri: uri, drv: drv}
}

// URI returns the master key's canonical name, as stored in the key
// table: it names the key, never how to reach it (see [Name]).
func (k *Keeper) URI() string { return k.uri }

// Wrap encrypts a data key under the master key, binding aad.
func (k *Keeper) Wrap(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: wrap: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, ErrEmptyPlaintext
	}
	out, err := k.drv.Wrap(ctx, plaintext, aad)
	if err != nil {
		return nil, wrapErr("wrap", err)
	}
	return out, nil
}

// Unwrap decrypts a data key wrapped by Wrap with the same aad.
func (k *Keeper) Unwrap(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: unwrap: %w", err)
	}
	out, err := k.drv.Unwrap(ctx, ciphertext, aad)
	if err != nil {
		return nil, wrapErr("unwrap", err)
	}
	return out, nil
}

// Close releases the driver. Calls after Close return [ErrClosed].
func (k *Keeper) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	return k.drv.Close()
}

// String names the master key; a Keeper holds no key bytes to print.
func (k *Keeper) String() string { return "kms.Keeper(" + k.uri + ")" }

// wrapErr prefixes a driver error once. Errors that already carry the
// "kms:" prefix (ErrUnwrap, say) are not prefixed again.
func wrapErr(op string, err error) error {
	if strings.HasPrefix(err.Error(), "kms:") {
		return err
	}
	return fmt.Errorf("kms: %s: %w", op, err)
}

// Opener opens a Driver for a URL of its scheme. The returned URI is the
// canonical name of the key stored in the key table (usually the URL
// without options that only say how to connect); for a URL that names its
// key fully it must equal what the scheme's [Namer] returns.
type Opener func(ctx context.Context, u *url.URL) (drv Driver, uri string, err error)

// entry is what a driver registered for its scheme.
type entry struct {
	open Opener
	name Namer
}

var (
	registryMu sync.RWMutex
	registry   = map[string]entry{}
)

// Register makes a driver available to [Open] and [Name] under scheme:
// open connects to a master key, name only parses a URL into the key's
// canonical name. It panics if scheme is registered twice or either
// function is nil, programmer errors like database/sql's.
func Register(scheme string, open Opener, name Namer) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("kms: Register called twice for scheme " + scheme)
	}
	if open == nil || name == nil {
		panic("kms: Register of scheme " + scheme + " with a nil function")
	}
	registry[scheme] = entry{open: open, name: name}
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open returns a Keeper for the master key named by rawURL, using the
// driver registered for its scheme.
func Open(ctx context.Context, rawURL string) (*Keeper, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("kms: open: invalid URL: %w", err)
	}
	sc, err := lookupScheme(u.Scheme)
	if err != nil {
		return nil, err
	}
	drv, uri, err := sc.open(ctx, u)
	if err != nil {
		return nil, wrapErr("open "+u.Scheme, err)
	}
	return NewKeeper(uri, drv), nil
}
