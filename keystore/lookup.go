package keystore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/kms"
)

// Key returns the given version of the tenant's data key, to open values sealed
// under it: the active version or a retired one. It fails with
// ErrKeyNotFound for a version the table does not hold (an Error of kind ErrKeyNotFound
// if this process saw the tenant's versions reach it: the row was deleted
// or replaced), with ErrKeyDestroyed for a destroyed version or a shredded
// tenant, and with ErrVersionTooOld below the tenant's minimum.
//
// A cached key is returned without I/O or allocation. Otherwise the row
// is read and unwrapped, once however many goroutines ask at the same
// time; each caller waits only as long as its own ctx allows.
func (s *Store) lookupKey(ctx context.Context, tenant string, version uint32) (*dataKey, error) {
	if k, stale, ok := s.cache.key(keyID{tenant, version}, s.clock.fast()); ok {
		s.countHit(stale)
		return k, nil
	}
	return s.keySlow(ctx, tenant, version)
}

// Cipher returns the cipher for values of table and column sealed under
// the given version of the tenant's data key: Key followed by
// the key's Cipher, in one step, with their errors. It is the hot path of
// opening a value: once a (tenant, version, table, column) was asked for,
// a call while the key is cached is one hashed lookup, with no lock, no
// I/O and no allocation. It counts as a hit or a miss like Key.
func (s *Store) Cipher(ctx context.Context, tenant string, version uint32, table, column string) (*cipher.Cipher, error) {
	if c, stale, ok := s.cache.cipher(tenant, version, table, column, s.clock.fast()); ok {
		s.countHit(stale)
		return c, nil
	}
	k, err := s.lookupKey(ctx, tenant, version)
	if err != nil {
		return nil, err
	}
	c, err := k.Cipher(table, column)
	if err != nil {
		return nil, err
	}
	s.cache.indexCipher(k, table, column, c)
	return c, nil
}

func (s *Store) keySlow(ctx context.Context, tenant string, version uint32) (*dataKey, error) {
	if err := s.errIfClosed(); err != nil {
		return nil, err
	}
	if err := validTenant(tenant); err != nil {
		return nil, err
	}
	s.ctr.misses.Add(1)
	if version == 0 {
		return nil, fmt.Errorf("%w: tenant %q version 0", ErrKeyNotFound, tenant)
	}
	if err := s.checkMin(tenant, version); err != nil {
		return nil, err
	}
	if s.cache.isDestroyed(tenant) || s.marks.isDestroyed(tenant, version) {
		return nil, fmt.Errorf("%w: tenant %q version %d", ErrKeyDestroyed, tenant, version)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keystore: key of tenant %q version %d: %w", tenant, version, err)
	}
	id := keyID{tenant, version}
	r, err := s.flights.do(ctx, flightKey{kind: flightVersion, tenant: tenant, version: version}, func(ctx context.Context) (flightResult, error) {
		return s.loadKey(ctx, id)
	})
	if err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("keystore: key of tenant %q version %d: %w", tenant, version, err)
		}
		return nil, err
	}
	if s.marks.isDestroyed(tenant, version) {
		// DestroyVersion ran while the load was reading the row.
		s.cache.remove(id, ErrKeyDestroyed)
		return nil, fmt.Errorf("%w: tenant %q version %d", ErrKeyDestroyed, tenant, version)
	}
	if r.stale {
		s.ctr.staleServed.Add(1)
	}
	return r.key, nil
}

// loadKey reads the row of id and unwraps its key. A missing or destroyed
// row also drops what the cache held for it.
func (s *Store) loadKey(ctx context.Context, id keyID) (flightResult, error) {
	// A caller that missed the cache just before the previous load of id
	// finished starts a new flight: answer it from the cache that load
	// filled, not with a second unwrap.
	if k, stale, ok := s.cache.key(id, s.clock.precise()); ok {
		return flightResult{key: k, stale: stale}, nil
	}
	row, found, err := s.readKey(ctx, id.tenant, id.version)
	if err != nil {
		return flightResult{}, err
	}
	if !found {
		s.cache.remove(id, ErrKeyEvicted)
		return flightResult{}, s.missing(id.tenant, id.version)
	}
	if row.state == stateDestroyed {
		s.cache.remove(id, ErrKeyDestroyed)
		// One version destroyed (DestroyVersion) leaves the others
		// usable; a tenant with no live version left was shredded.
		if sum, err := s.summary(ctx, s.db, id.tenant); err == nil && sum.rows == sum.destroyed {
			s.cache.destroyTenant(id.tenant)
		}
		return flightResult{}, fmt.Errorf("%w: tenant %q version %d", ErrKeyDestroyed, id.tenant, id.version)
	}
	s.marks.note(id.tenant, id.version)
	return s.unwrapRow(ctx, id, row)
}

// keyFromRow returns the key of a row already read: from the cache if
// fresh, else unwrapped under the version's flight, so that Active and
// Key racing on the same version share one KMS call.
func (s *Store) keyFromRow(ctx context.Context, tenant string, row keyRow) (flightResult, error) {
	id := keyID{tenant, row.version}
	if k, stale, ok := s.cache.key(id, s.clock.precise()); ok {
		return flightResult{key: k, stale: stale}, nil
	}
	return s.flights.do(ctx, flightKey{kind: flightVersion, tenant: tenant, version: row.version}, func(ctx context.Context) (flightResult, error) {
		return s.unwrapRow(ctx, id, row)
	})
}

// unwrapRow unwraps a live row's key and caches it. When that fails, the
// expired cached key is served instead if the error is retryable and the
// stale grace allows; otherwise the expired key is dropped, so a revoked
// or failing master key ends this process's use of the key.
func (s *Store) unwrapRow(ctx context.Context, id keyID, row keyRow) (flightResult, error) {
	if !row.haveCopies {
		// Read from the tenant's rows, which carry the row's own copy
		// only: read its copies too.
		full, found, err := s.readCopies(ctx, s.db, id.tenant, id.version)
		if err != nil {
			return flightResult{}, err
		}
		if found && full.state != stateDestroyed {
			row = full
		} else {
			row.copies = []wrapCopy{{row.kekURI, row.wrapped}}
		}
	}
	dek, _, err := s.unwrapCopies(ctx, id.tenant, id.version, row.copies)
	if err != nil {
		return s.fallback(ctx, id, err)
	}
	if len(dek) != cipher.DEKSize {
		clear(dek)
		return flightResult{}, corruptRow(id.tenant, int64(id.version), "unwrapped key has the wrong length")
	}
	if err := s.marks.vouch(id.tenant, id.version, dek); err != nil {
		// Another key under a version this process used: values sealed
		// under the earlier one would fail as if tampered with. Say so.
		clear(dek)
		s.log.LogAttrs(ctx, slog.LevelError, "keystore: the key table holds another data key under a version already used; refusing it",
			slog.String("tenant", id.tenant), slog.Uint64("version", uint64(id.version)))
		return flightResult{}, err
	}
	k, res, err := s.cache.install(id, dek, s.clock.precise(), s.ttl, s.grace)
	if err != nil {
		return flightResult{}, fmt.Errorf("%w: tenant %q version %d", err, id.tenant, id.version)
	}
	if res == installedReplaced {
		s.log.LogAttrs(ctx, slog.LevelWarn, "keystore: the key table holds a different data key than the one cached; using the table's",
			slog.String("tenant", id.tenant), slog.Uint64("version", uint64(id.version)))
	}
	return flightResult{key: k}, nil
}

// fallback handles a failed unwrap of id: see cache.fallback.
func (s *Store) fallback(ctx context.Context, id keyID, err error) (flightResult, error) {
	now := s.clock.precise()
	allow := s.grace > 0 && kms.IsRetryable(err)
	k, stale, ok := s.cache.fallback(id, now, now+ticks(s.probe), allow)
	if !ok {
		return flightResult{}, err
	}
	if stale {
		s.log.LogAttrs(ctx, slog.LevelWarn, "keystore: KMS unavailable; serving an expired data key within the stale grace",
			slog.String("tenant", id.tenant), slog.Uint64("version", uint64(id.version)), slog.String("error", err.Error()))
		s.emit(Event{Kind: eventStale, Tenant: id.tenant, Version: id.version, Err: err})
	}
	return flightResult{key: k, stale: stale}, nil
}

// liveKeys returns the tenant's active and retired keys at or above its
// minimum version (TenantPolicy.MinVersion), newest first:
// the keys an equality query must try, since matching values may have
// been sealed under any of them. A tenant without keys has none (nil,
// nil); a shredded one fails with ErrKeyDestroyed. The list of versions
// is cached like the active version.
func (s *Store) liveKeys(ctx context.Context, tenant string) ([]*dataKey, error) {
	if err := s.errIfClosed(); err != nil {
		return nil, err
	}
	if err := validTenant(tenant); err != nil {
		return nil, err
	}
	if s.cache.isDestroyed(tenant) {
		return nil, fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
	}
	versions, cached := s.cache.live(tenant, s.clock.precise())
	if !cached {
		var err error
		if versions, err = s.liveVersions(ctx, tenant); err != nil {
			return nil, err
		}
		if len(versions) == 0 {
			sum, err := s.summary(ctx, s.db, tenant)
			if err != nil {
				return nil, err
			}
			if sum.destroyed > 0 {
				s.cache.destroyTenant(tenant)
				return nil, fmt.Errorf("%w: tenant %q", ErrKeyDestroyed, tenant)
			}
			return nil, nil
		}
	}
	keys := make([]*dataKey, 0, len(versions))
	for _, v := range versions {
		if s.checkMin(tenant, v) != nil {
			continue // below the minimum: opens nothing, so matches nothing
		}
		k, err := s.lookupKey(ctx, tenant, v)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if !cached {
		s.cache.setLive(tenant, versions, s.clock.precise()+ticks(s.ttl))
	}
	return keys, nil
}
