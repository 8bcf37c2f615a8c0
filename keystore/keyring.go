package keystore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sort"

	"github.com/colcrypt/colcrypt/kms"
)

// WithKeyring adds master keys to the keyring: the ordered list of master
// keys every new data key is wrapped under, the keeper given to New first,
// then these in order. Each new key (a tenant's first, and each rotation)
// is wrapped once under every ring key, and the copies are written in the
// transaction that writes the key row: the key row holds the first copy
// that succeeded, the copies table (the key table's name + "_wraps") the
// others. Ring keys are configured master keys (see WithMasterKeys), so
// rows naming them are unwrapped by them.
//
// A cold key is unwrapped from its copies in ring order, failing over to
// the next copy when a KMS call fails (retryable or not: a copy that does
// not unwrap is skipped too). A copy under a master key the application
// did not configure is never opened. Each master key has a circuit
// breaker: after a retryable failure or a timeout its copies are tried
// last for Tuning.BreakerCooldown, so an outage of one KMS costs one
// failed call per cool-down, not one per cold key; once the cool-down has
// passed, the next call probes it. A key whose only copies are behind open
// breakers is still tried (with retries): failing fast would turn one
// failed call into a cool-down of refusals for keys nothing else can
// open. Every call but the last of one unwrap is made once, without
// retries: the next copy is the retry.
//
// While a ring key fails with a retryable error (or its breaker is open),
// new keys are created with the copies that succeeded, at least one; the
// missing copies are counted in Stats.CopiesMissed and logged, and
// AddMasterKey fills them. A non-retryable wrap failure (access denied)
// fails the creation. Tenants with their own master key
// (TenantPolicy.KEK) are wrapped under it alone.
func WithKeyring(keepers ...*kms.Keeper) Option {
	return func(c *config) { c.keyring = append(c.keyring, keepers...) }
}

// wrapCopy is one wrapped copy of a data key: the master key's name as
// stored, and the blob.
type wrapCopy struct {
	kekURI  string
	wrapped []byte
}

// candidate is a copy whose master key is configured.
type candidate struct {
	kp *kms.Keeper
	wrapCopy
}

// order returns the copies whose master key is configured, one per
// keeper, in ring order, with those behind an open breaker last, and the
// name of the first copy under an unconfigured key (never opened).
func (s *Store) order(copies []wrapCopy) (cands []candidate, deferred int, unknown string) {
	seen := make(map[*kms.Keeper]bool, len(copies))
	for _, c := range copies {
		kp, ok := s.keepers.lookup(c.kekURI)
		if !ok {
			if unknown == "" {
				unknown = c.kekURI
			}
			continue
		}
		if seen[kp] {
			continue
		}
		seen[kp] = true
		cands = append(cands, candidate{kp, c})
	}
	sort.SliceStable(cands, func(i, j int) bool { return s.keepers.rank[cands[i].kp] < s.keepers.rank[cands[j].kp] })
	now := s.clock.wall().UnixNano()
	var ready, later []candidate
	for _, c := range cands {
		if s.keepers.health[c.kp].admit(now, s.cooldown) {
			ready = append(ready, c)
		} else {
			later = append(later, c)
		}
	}
	return append(ready, later...), len(later), unknown
}

// unwrapCopies unwraps a data key from the first of its copies that
// opens, in the order order gives, and returns it with the index in
// copies' candidates that opened it.
func (s *Store) unwrapCopies(ctx context.Context, tenant string, version uint32, copies []wrapCopy) ([]byte, *kms.Keeper, error) {
	cands, deferred, unknown := s.order(copies)
	if len(cands) == 0 {
		return nil, nil, &Error{Kind: ErrUnknownMasterKey, Tenant: tenant, Version: version, KEKURI: unknown}
	}
	if deferred > 0 && deferred < len(cands) {
		s.ctr.breakerDeferred.Add(uint64(deferred))
	}
	var last error
	for i, c := range cands {
		attempts := 1
		if i == len(cands)-1 {
			attempts = s.attempts
		}
		dek, err := s.kmsCallN(ctx, eventUnwrap, c.kp, tenant, version, c.wrapped, attempts)
		if err == nil {
			if i > 0 {
				s.ctr.failovers.Add(1)
				s.log.LogAttrs(ctx, slog.LevelWarn, "keystore: data key unwrapped by a further master key of the keyring",
					slog.String("tenant", tenant), slog.Uint64("version", uint64(version)), slog.String("kek_uri", c.kp.URI()),
					slog.String("failed", last.Error()))
			}
			return dek, c.kp, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, last
}

// wrapRing wraps a new data key of (tenant, v) under every key of the
// ring (or under the tenant's own master key alone) and returns the
// copies in ring order: at least one, or the error of the last failure.
func (s *Store) wrapRing(ctx context.Context, tenant string, v uint32, dek []byte) ([]wrapCopy, error) {
	kek, own, err := s.wrapKeeper(ctx, tenant)
	if err != nil {
		return nil, err
	}
	ring := s.keepers.ring
	if own {
		ring = []*kms.Keeper{kek}
	}
	now := s.clock.wall().UnixNano()
	var ready, later []*kms.Keeper
	for _, kp := range ring {
		if s.keepers.health[kp].admit(now, s.cooldown) {
			ready = append(ready, kp)
		} else {
			later = append(later, kp)
		}
	}
	all := append(ready, later...)
	var (
		copies []wrapCopy
		last   error
		missed int
	)
	for i, kp := range all {
		if i >= len(ready) && len(copies) > 0 {
			missed++ // behind an open breaker, and a copy exists
			continue
		}
		attempts := 1
		if len(copies) == 0 && i == len(all)-1 {
			attempts = s.attempts
		}
		wrapped, err := s.kmsCallN(ctx, eventWrap, kp, tenant, v, dek, attempts)
		if err != nil {
			if ctx.Err() != nil || !kms.IsRetryable(err) {
				return nil, err
			}
			last = err
			missed++
			continue
		}
		copies = append(copies, wrapCopy{kekURI: kp.URI(), wrapped: wrapped})
	}
	if len(copies) == 0 {
		return nil, last
	}
	if missed > 0 {
		s.ctr.copiesMissed.Add(uint64(missed))
		s.log.LogAttrs(ctx, slog.LevelWarn, "keystore: new data key wrapped under part of the keyring; run AddMasterKey to fill the missing copies",
			slog.String("tenant", tenant), slog.Uint64("version", uint64(v)), slog.Int("copies", len(copies)), slog.Int("missing", missed))
	}
	return copies, nil
}

// insertCopies writes the copies after the first (which the key row
// holds) inside tx.
func (s *Store) insertCopies(ctx context.Context, tx *sql.Tx, tenant string, v uint32, copies []wrapCopy, ts any) error {
	for _, c := range copies[1:] {
		if _, err := s.execSpan(ctx, tx, "insert_copy", tenant, s.rq.InsertWrap, tenant, int64(v), c.kekURI, c.wrapped, ts); err != nil {
			return fmt.Errorf("keystore: write key copy of tenant %q version %d: %w", tenant, v, err)
		}
	}
	return nil
}

// readCopies reads one version's key row and its copies in one query; the
// row's own copy comes first.
func (s *Store) readCopies(ctx context.Context, q querier, tenant string, version uint32) (_ keyRow, found bool, err error) {
	ctx, span := s.querySpan(ctx, "select_copies", tenant)
	defer func() { endSpan(span, err) }()
	rows, err := q.QueryContext(ctx, s.rq.Copies, tenant, int64(version))
	if err != nil {
		return keyRow{}, false, fmt.Errorf("keystore: read key of tenant %q version %d: %w", tenant, version, err)
	}
	defer rows.Close()
	row := keyRow{version: version, haveCopies: true}
	for rows.Next() {
		var (
			st      string
			wURI    sql.NullString
			wrapped []byte
		)
		if err := rows.Scan(&st, &row.kekURI, &row.wrapped, &wURI, &wrapped); err != nil {
			return keyRow{}, false, fmt.Errorf("keystore: read key of tenant %q version %d: %w", tenant, version, err)
		}
		if !found {
			found = true
			var ok bool
			if row.state, ok = parseState(st); !ok {
				return keyRow{}, false, corruptRow(tenant, int64(version), "unknown state")
			}
			if row.state != stateDestroyed {
				if len(row.wrapped) == 0 {
					return keyRow{}, false, corruptRow(tenant, int64(version), "live key without wrapped_dek")
				}
				row.copies = append(row.copies, wrapCopy{row.kekURI, row.wrapped})
			}
		}
		if wURI.Valid && len(wrapped) > 0 && row.state != stateDestroyed {
			row.copies = append(row.copies, wrapCopy{wURI.String, wrapped})
		}
	}
	if err := rows.Err(); err != nil {
		return keyRow{}, false, fmt.Errorf("keystore: read key of tenant %q version %d: %w", tenant, version, err)
	}
	return row, found, nil
}
