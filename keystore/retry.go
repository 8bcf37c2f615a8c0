package keystore

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/colcrypt/colcrypt/internal/kmserr"
	"github.com/colcrypt/colcrypt/kms"
)

// kmsCall runs one wrap or unwrap with retries: up to s.attempts calls,
// each bounded by s.kmsTimeout, retried only on errors kms.IsRetryable
// accepts (or on the per-call timeout, while ctx itself is alive), with
// exponential backoff and full jitter. It never sleeps past ctx's
// deadline: when the next sleep would end after it, the last error is
// returned at once.
func (s *Store) kmsCall(ctx context.Context, kind eventKind, kp *kms.Keeper, tenant string, version uint32, in []byte) ([]byte, error) {
	return s.kmsCallN(ctx, kind, kp, tenant, version, in, s.attempts)
}

// kmsCallN is kmsCall making at most attempts calls. Its outcome feeds
// the master key's circuit breaker: a success closes it, a retryable
// failure or a timeout (the caller still waiting) opens it.
func (s *Store) kmsCallN(ctx context.Context, kind eventKind, kp *kms.Keeper, tenant string, version uint32, in []byte, attempts int) ([]byte, error) {
	out, err := s.kmsAttempts(ctx, kind, kp, tenant, version, in, attempts)
	h := s.keepers.health[kp]
	switch {
	case err == nil:
		h.succeeded()
	case ctx.Err() == nil && kms.IsRetryable(err):
		h.failed(s.clock.wall().UnixNano(), s.cooldown)
	}
	return out, err
}

// kmsAttempts makes the calls of kmsCallN.
func (s *Store) kmsAttempts(ctx context.Context, kind eventKind, kp *kms.Keeper, tenant string, version uint32, in []byte, attempts int) ([]byte, error) {
	wc := kms.WrapContext{Purpose: s.purpose, Tenant: tenant, Version: version}
	op := kind
	var err error
	for attempt := 1; ; attempt++ {
		if kind == eventWrap {
			s.ctr.kmsWraps.Add(1)
		} else {
			s.ctr.kmsUnwraps.Add(1)
		}
		sctx, span := s.tel.kmsSpan(ctx, op, kp, tenant, version, attempt)
		start := time.Now()
		actx, cancel := context.WithTimeout(sctx, s.kmsTimeout)
		var out []byte
		if kind == eventWrap {
			out, err = kp.Wrap(actx, in, wc)
		} else {
			out, err = kp.Unwrap(actx, in, wc)
		}
		cancel()
		d := time.Since(start)
		s.tel.kmsDone(ctx, span, op, kp, tenant, d, err, err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded))
		s.emit(Event{Kind: kind, Tenant: tenant, Version: version, KEKURI: kp.URI(), Attempt: attempt, Start: start, Duration: d, Err: err})
		if err == nil {
			s.log.LogAttrs(ctx, slog.LevelDebug, "keystore: kms "+op,
				slog.String("tenant", tenant), slog.Uint64("version", uint64(version)),
				slog.String("kek_uri", kp.URI()), slog.Int("attempt", attempt), slog.Duration("duration", d))
			return out, nil
		}
		s.ctr.kmsErrors.Add(1)
		s.log.LogAttrs(ctx, slog.LevelDebug, "keystore: kms "+op+" failed",
			slog.String("tenant", tenant), slog.Uint64("version", uint64(version)),
			slog.String("kek_uri", kp.URI()), slog.Int("attempt", attempt), slog.Duration("duration", d),
			slog.String("error", err.Error()))

		timedOut := ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)
		recordKMSError(ctx, &Error{Kind: ErrKMS, Op: op, Tenant: tenant, Version: version, KEKURI: kp.URI(), Attempts: attempt, Err: retryableIf(err, timedOut)})
		if (!kms.IsRetryable(err) && !timedOut) || attempt >= attempts || ctx.Err() != nil {
			return nil, &Error{Kind: ErrKMS, Op: op, Tenant: tenant, Version: version, KEKURI: kp.URI(), Attempts: attempt, Err: retryableIf(err, timedOut)}
		}
		sleep := s.backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= sleep {
			return nil, &Error{Kind: ErrKMS, Op: op, Tenant: tenant, Version: version, KEKURI: kp.URI(), Attempts: attempt, Err: retryableIf(err, timedOut)}
		}
		s.ctr.kmsRetries.Add(1)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &Error{Kind: ErrKMS, Op: op, Tenant: tenant, Version: version, KEKURI: kp.URI(), Attempts: attempt, Err: retryableIf(err, timedOut)}
		case <-t.C:
		}
	}
}

// backoff returns the sleep before retry n (n ≥ 1): uniform in
// [0, min(max, base·2^(n-1))]. Full jitter spreads the retries of many
// processes that failed together, so a KMS coming back is not hit by a
// synchronized wave.
func (s *Store) backoff(n int) time.Duration {
	ceil := s.base
	for i := 1; i < n && ceil < s.max; i++ {
		if ceil > s.max/2 {
			ceil = s.max
			break
		}
		ceil *= 2
	}
	ceil = min(ceil, s.max)
	jitter := s.jitter
	if jitter == nil {
		jitter = rand.Int64N
	}
	n64 := int64(ceil)
	if n64 < math.MaxInt64 {
		n64++ // include ceil itself
	}
	return time.Duration(jitter(n64))
}

// retryableIf marks a per-call timeout as retryable for the caller, who
// still had time: the KMS, not the caller, was slow.
func retryableIf(err error, timedOut bool) error {
	if timedOut && !kms.IsRetryable(err) {
		return kmserr.Retryable(err)
	}
	return err
}
