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

	// ErrKeyEvicted is returned when a key left the cache, and its bytes
	// were zeroed, between its lookup and the derivation of a column's
	// cipher. Ask the Store again.
	ErrKeyEvicted = errors.New("keystore: key evicted from the cache")

	// ErrClosed is returned by a Store after Close.
	ErrClosed = errors.New("keystore: store is closed")

	// ErrConflict is returned by Rotate when other writers kept changing
	// the tenant's keys through every attempt. Trying again is safe.
	ErrConflict = errors.New("keystore: concurrent key change, try again")

	// ErrInvalidTenant is returned for a tenant id the key table cannot
	// hold: empty, longer than 1024 bytes, not UTF-8, or holding NUL.
	ErrInvalidTenant = errors.New("keystore: invalid tenant id")
)

// ErrKMS is the kind of an [Error] for a failed call to the KMS that
// wraps or unwraps a data key. The Error wraps the kms package's error
// too, so errors.Is(err, kms.ErrUnwrap) and kms.IsRetryable(err) see
// through it.
var ErrKMS = errors.New("keystore: KMS call failed")

// ErrCorruptRow is the kind of an [Error] for a key table row that
// breaks the table's invariants: an unknown state, a version out of
// range, a live key without wrapped bytes, an unwrapped key of the wrong
// length. Someone or something wrote the table.
var ErrCorruptRow = errors.New("keystore: corrupt key row")

// Error is a keystore failure with the detail of what failed: which
// tenant, version and master key, never any key's bytes. Kind is one of
// the package's sentinels, and errors.Is(err, Kind) holds:
//
//   - ErrKMS: a KMS call failed; Op ("wrap" or "unwrap"), KEKURI and
//     Attempts (calls made before giving up) say which, Err is the kms
//     package's error.
//   - ErrCorruptRow: a key row breaks the table's invariants; Reason
//     says how.
//   - ErrUnknownMasterKey: a row names a master key the application did
//     not configure; KEKURI is the name as stored (data an attacker may
//     have written: quoted and cut short in the message). Version is 0
//     when no row was read yet (a name from TenantPolicy.KEK).
//   - ErrVersionTooOld: Version is below the tenant's minimum, Min
//     (TenantPolicy.MinVersion).
//   - ErrKeyNotFound: a key row this process saw is gone from the table,
//     or Replaced by another data key under the same version; Highest is
//     the highest version this process saw, Shown the highest the table
//     shows now, Version 0 when the tenant's highest version went
//     missing. Values sealed under the missing key cannot be opened until
//     the row is restored, and no key is ever issued again under a
//     version number already used.
//   - ErrAuditChainBroken: event Seq of the audit trail does not check
//     out (Reason); everything from it on is suspect.
type Error struct {
	Kind    error
	Op      string
	Tenant  string
	Version uint32
	KEKURI  string
	// Attempts is how many KMS calls were made before giving up.
	Attempts int
	// Min is the tenant's minimum version.
	Min uint32
	// Highest, Shown and Replaced describe a missing key row.
	Highest, Shown uint32
	Replaced       bool
	// Seq is the audit event that broke the chain.
	Seq    int64
	Reason string
	Err    error
}

func (e *Error) Error() string {
	switch e.Kind {
	case ErrKMS:
		return fmt.Sprintf("keystore: %s data key of tenant %q version %d with %s (%d attempts): %v",
			e.Op, e.Tenant, e.Version, e.KEKURI, e.Attempts, e.Err)
	case ErrCorruptRow:
		return fmt.Sprintf("keystore: corrupt key row (tenant %q, version %d): %s", e.Tenant, e.Version, e.Reason)
	case ErrUnknownMasterKey:
		return fmt.Sprintf("%v: tenant %q version %d names %s", ErrUnknownMasterKey, e.Tenant, e.Version, quoteName(e.KEKURI))
	case ErrVersionTooOld:
		return fmt.Sprintf("keystore: tenant %q version %d is below the minimum version %d", e.Tenant, e.Version, e.Min)
	case ErrKeyNotFound:
		return e.missingMessage()
	case ErrAuditChainBroken:
		return fmt.Sprintf("keystore: audit chain broken at event %d: %s", e.Seq, e.Reason)
	}
	if e.Err != nil {
		return fmt.Sprintf("%v: %v", e.Kind, e.Err)
	}
	return fmt.Sprint(e.Kind)
}

// Unwrap returns the kind and the underlying error, if any.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Retryable reports whether the underlying failure was transient (a KMS
// call that may succeed if made again), so that kms.IsRetryable works on
// an Error.
func (e *Error) Retryable() bool { return e.Err != nil && kms.IsRetryable(e.Err) }

// corruptRow is an ErrCorruptRow Error. A stored version outside the
// uint32 range is named in the reason.
func corruptRow(tenant string, version int64, reason string) *Error {
	if version < 0 || version > 1<<32-1 {
		return &Error{Kind: ErrCorruptRow, Tenant: tenant, Reason: fmt.Sprintf("%s (stored version %d)", reason, version)}
	}
	return &Error{Kind: ErrCorruptRow, Tenant: tenant, Version: uint32(version), Reason: reason}
}
