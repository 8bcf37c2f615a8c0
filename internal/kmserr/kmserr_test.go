package kmserr

import (
	"errors"
	"fmt"
	"testing"
)

func TestRetryable(t *testing.T) {
	inner := errors.New("inner")
	err := fmt.Errorf("driver: %w", Retryable(inner))
	var r interface{ Retryable() bool }
	if !errors.As(err, &r) || !r.Retryable() {
		t.Errorf("errors.As(%v, Retryable) = false, want a retryable mark", err)
	}
	if !errors.Is(err, inner) || err.Error() != "driver: inner" {
		t.Errorf("Retryable(inner) = %q, Is(inner) = %v; want %q, true", err, errors.Is(err, inner), "driver: inner")
	}
}
