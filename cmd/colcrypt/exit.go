package main

import (
	"errors"
	"fmt"
)

// Exit codes; the package doc is their contract.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitProblems    = 3
	exitInterrupted = 130
)

// exitError is an error that decides the process's exit code. Every error
// a command returns is one; an error from cobra itself (an unknown
// command or flag) is not, which is how run tells usage errors apart.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr is a usage error (exit 2).
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// withCode gives err an exit code unless it has one.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: code, err: err}
}
