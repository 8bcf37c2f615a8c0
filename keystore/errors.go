package keystore

import (
	"errors"
	"fmt"

	"github.com/colcrypt/colcrypt/kms"
)

var (
	// ErrKeyNotFound is returned when the key table has no row for the
	// tenant (and version) asked for.
	ErrKeyNotFound = errors.New("keystore: key not found")

	// ErrKeyDestroyed is returned for a tenant whose keys were shredded.
	// Active returns it too: a shredded tenant never silently gets a new
	// key, because data written under one would look like the tenant's
	// data had survived its erasure.
	ErrKeyDestroyed = errors.New("keystore: key destroyed")

	// ErrKeyEvicted is returned by [Key.Cipher] once the key has left the
	// cache and its bytes were zeroed. Ask the Store for the key again.
	ErrKeyEvicted = errors.New("keystore: key evicted from the cache")

	// ErrClosed is returned by a Store after Close.
	ErrClosed = errors.New("keystore: store is closed")

	// ErrConflict is returned by Rotate when other writers kept changing
	// the tenant's keys through every attempt. Trying again is safe.
	ErrConflict = errors.New("keystore: concurrent key change, try again")

	// ErrInvalidTenant is returned for a tenant id the key table cannot
	// hold: empty, longer than MaxTenantLen bytes, not UTF-8, or holding NUL.
	ErrInvalidTenant = errors.New("keystore: invalid tenant id")
)

// KMSError is a failed call to the KMS that wraps or unwraps a data key.
// It wraps the kms package's error, so errors.Is(err, kms.ErrUnwrap) and
// kms.IsRetryable(err) see through it. It names the key, never its bytes.
type KMSError struct {
	Op      string // "wrap" or "unwrap"
	Tenant  string
	Version uint32
	KEKURI  string
	// Attempts is how many calls were made before giving up.
	Attempts int
	Err      error
}

func (e *KMSError) Error() string {
	return fmt.Sprintf("keystore: %s data key of tenant %q version %d with %s (%d attempts): %v",
		e.Op, e.Tenant, e.Version, e.KEKURI, e.Attempts, e.Err)
}

func (e *KMSError) Unwrap() error { return e.Err }

// Retryable reports whether the underlying KMS failure was transient, so
// that kms.IsRetryable works on a KMSError.
func (e *KMSError) Retryable() bool { return kms.IsRetryable(e.Err) }

// CorruptRowError reports a key table row that breaks the table's
// invariants (an unknown state, a version out of range, a live key without
// wrapped bytes). It names the row, never its contents.
type CorruptRowError struct {
	Tenant  string
	Version int64
	Reason  string
}

func (e *CorruptRowError) Error() string {
	return fmt.Sprintf("keystore: corrupt key row (tenant %q, version %d): %s", e.Tenant, e.Version, e.Reason)
}
