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
// # Wrap context
//
// Every data key is wrapped for a [WrapContext]: its purpose, its tenant
// and its key version. Drivers bind it as the KMS's associated data, each
// in the form its KMS reads best (see [WrapContext]), and a blob unwraps
// only for an equal context.
//
// # Errors
//
// Every error a Keeper returns is prefixed "kms:" and wraps the driver's
// error once. [ErrUnwrap] is returned, for every driver, when a blob cannot be
// unwrapped because it is tampered, was wrapped under another master key, or
// was wrapped for another context: callers cannot and should not tell
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
// Error contract:
//   - Unwrap returns an error that matches [ErrUnwrap] (errors.Is) when the
//     ciphertext is not authentic under this key and wrap context:
//     tampered, wrapped by another key, wrapped for another context, or
//     truncated.
//   - Wrap refuses a nil or empty plaintext with an error that is not
//     retryable, without calling the KMS: a data key is never empty, and
//     Cloud KMS rejects an empty plaintext anyway. (A [Keeper] never passes
//     one.)
//   - Transient failures return an error for which [IsRetryable] is true,
//     by implementing Retryable() bool.
//   - A cancelled or expired ctx returns an error that matches ctx.Err().
//   - No error and no log line may contain plaintext key bytes.
type Driver interface {
	// Wrap encrypts plaintext (a data key) under the master key, binding
	// wc. Two calls with the same input must return different ciphertexts.
	Wrap(ctx context.Context, plaintext []byte, wc WrapContext) ([]byte, error)
	// Unwrap reverses Wrap; wc must equal the one given to Wrap.
	Unwrap(ctx context.Context, ciphertext []byte, wc WrapContext) ([]byte, error)
	// Close releases the driver's resources.
	Close() error
}

// ErrUnwrap is the one error for every way a wrapped key can fail to
// authenticate.
var ErrUnwrap = errors.New("kms: unwrap failed")

// ErrUnknownScheme is returned by Open and Name for a URL whose scheme no
// imported driver registered.
var ErrUnknownScheme = errors.New("kms: unknown URL scheme")

var (
	errEmptyPlaintext = errors.New("kms: empty plaintext")
	errClosed         = errors.New("kms: keeper is closed")
	errNoPurpose      = errors.New("kms: the wrap context has no purpose")
)

// IsRetryable reports whether err, or an error it wraps, is a transient KMS
// failure worth retrying with backoff: the service was unavailable,
// throttled, or timed out on its side. Cancellation of the caller's own
// context is not retryable. An error is retryable when it, or one it wraps,
// has a method Retryable() bool that reports true.
func IsRetryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

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

// Wrap encrypts a data key under the master key, binding wc: the blob
// unwraps only with an equal WrapContext.
func (k *Keeper) Wrap(ctx context.Context, plaintext []byte, wc WrapContext) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: wrap: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, errEmptyPlaintext
	}
	if wc.Purpose == "" {
		return nil, errNoPurpose
	}
	out, err := k.drv.Wrap(ctx, plaintext, wc)
	if err != nil {
		return nil, wrapErr("wrap", err)
	}
	return out, nil
}

// Unwrap decrypts a data key wrapped by Wrap with an equal wc. Every way
// the blob can fail to authenticate is [ErrUnwrap].
func (k *Keeper) Unwrap(ctx context.Context, ciphertext []byte, wc WrapContext) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kms: unwrap: %w", err)
	}
	out, err := k.drv.Unwrap(ctx, ciphertext, wc)
	if err != nil {
		return nil, wrapErr("unwrap", err)
	}
	return out, nil
}

// Close releases the driver. Calls after Close fail.
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

// opener connects to the master key a URL of its scheme names and returns
// the key's canonical name; namer only parses such a URL into that name.
type (
	opener func(ctx context.Context, u *url.URL) (drv Driver, name string, err error)
	namer  func(u *url.URL) (string, error)
)

// entry is what a driver registered for its scheme.
type entry struct {
	open opener
	name namer
}

var (
	registryMu sync.RWMutex
	registry   = map[string]entry{}
)

// Register makes a driver available to [Open] and [Name] under scheme, as
// database/sql drivers do from their package's init. open connects to the
// master key u names and returns its canonical name (for a URL that names
// its key fully, what name returns). name only parses u into the key's
// canonical name: the parts that identify the key (for Cloud KMS the
// CryptoKey, for a key file its path and key id), without those that only
// say how to reach it (endpoint, credentials, insecure transport, skipped
// checks); it must do no I/O, because it is given names read from a key
// table, which an attacker may have written. Register panics if scheme is
// registered twice or either function is nil, programmer errors like
// database/sql's.
func Register(scheme string,
	open func(ctx context.Context, u *url.URL) (drv Driver, name string, err error),
	name func(u *url.URL) (string, error),
) {
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

// lookupScheme returns the driver registered for scheme.
func lookupScheme(name string) (entry, error) {
	registryMu.RLock()
	sc, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return entry{}, fmt.Errorf("%w %q (registered: %s)", ErrUnknownScheme, name, strings.Join(schemes(), ", "))
	}
	return sc, nil
}

// schemes lists the registered URL schemes, sorted, for error messages.
func schemes() []string {
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
