// Package readmetest holds the test that keeps README.md honest: its
// "What you write" program is extracted and built, so a renamed function
// or a missing import (the KMS driver's, without which kms.Open fails at
// run time with "unknown URL scheme") breaks the build, not a reader's
// first try. It has no code of its own.
package readmetest
