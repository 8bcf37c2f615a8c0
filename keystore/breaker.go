package keystore

import (
	"sync/atomic"
	"time"
)

// keyHealth is one master key's circuit breaker. Closed (openUntil 0),
// the key is tried in its ring place. A retryable failure or a timeout
// opens it: until openUntil its copies are tried after every other
// copy's. Once openUntil has passed, the first caller to admit it moves
// openUntil one cool-down on and probes the key; the others keep trying
// it last, so a dead KMS sees one probe per cool-down, not a wave. A
// success closes it. A nil keyHealth (a keeper that is not configured,
// such as Rewrap's target) is always closed.
type keyHealth struct {
	openUntil atomic.Int64 // wall-clock Unix nanoseconds; 0 when closed
}

// admit reports whether the key should be tried in its ring place now:
// closed, or open past its cool-down and this caller won the probe.
func (h *keyHealth) admit(now int64, cool time.Duration) bool {
	if h == nil {
		return true
	}
	u := h.openUntil.Load()
	if u == 0 {
		return true
	}
	if now < u {
		return false
	}
	return h.openUntil.CompareAndSwap(u, now+int64(cool))
}

// open reports whether the breaker is open at now.
func (h *keyHealth) open(now int64) bool {
	if h == nil {
		return false
	}
	u := h.openUntil.Load()
	return u != 0 && now < u
}

// failed opens the breaker for a cool-down from now.
func (h *keyHealth) failed(now int64, cool time.Duration) {
	if h != nil && cool > 0 {
		h.openUntil.Store(now + int64(cool))
	}
}

// succeeded closes the breaker.
func (h *keyHealth) succeeded() {
	if h != nil && h.openUntil.Load() != 0 {
		h.openUntil.Store(0)
	}
}
