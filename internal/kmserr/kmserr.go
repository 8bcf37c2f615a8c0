// Package kmserr marks errors of KMS drivers as transient. kms.IsRetryable
// recognises the mark (a Retryable() bool method found with errors.As), so
// the drivers and keystore share one definition of "worth retrying"
// without the kms package exporting the marker type.
package kmserr

// Retryable marks err as transient: kms.IsRetryable reports true for it
// and for every error that wraps it. Error() and errors.Is/As see err
// unchanged.
func Retryable(err error) error { return &retryable{err: err} }

type retryable struct{ err error }

func (e *retryable) Error() string   { return e.err.Error() }
func (e *retryable) Unwrap() error   { return e.err }
func (e *retryable) Retryable() bool { return true }
