package kms

// ErrInvalidName lets the external tests match Name's parse errors.
var ErrInvalidName = errInvalidName
