package keystore

import (
	"sync/atomic"
	"time"
)

// Stats are a Store's counters since New. Every field counts events, so
// the difference of two snapshots is the activity between them.
type Stats struct {
	// KMSWraps and KMSUnwraps count calls made to the KMS, each attempt
	// of a retried call included. They grow with tenants × versions per
	// TTL, never with rows.
	KMSWraps   uint64
	KMSUnwraps uint64
	// KMSErrors counts KMS calls that failed; KMSRetries the calls made
	// again after a retryable failure.
	KMSErrors  uint64
	KMSRetries uint64
	// Hits counts Active and Key calls answered from the cache; Misses
	// those that had to read the key table (and maybe call the KMS).
	Hits   uint64
	Misses uint64
	// StaleServed counts calls answered with an expired key during the
	// stale grace, because the KMS failed.
	StaleServed uint64
	// Evictions counts cached keys dropped before Close: by the size
	// bound, by expiry, by Shred, or replaced by a refresh. Each is
	// zeroed then, or, if ciphers it handed out may still be in use,
	// once the last of them is collected.
	Evictions uint64
	// Failovers counts data keys unwrapped by a copy other than the
	// first one tried: the keyring served a key another master key
	// failed on (WithKeyring).
	Failovers uint64
	// BreakerDeferred counts copies tried last, after the other copies,
	// because their master key's circuit breaker was open.
	BreakerDeferred uint64
	// CopiesMissed counts copies of new data keys not written because a
	// ring master key failed or its breaker was open; AddMasterKey fills
	// them.
	CopiesMissed uint64
	// BreakersOpen is the number of configured master keys whose circuit
	// breaker is open now.
	BreakersOpen int
	// Cached is the number of keys in the cache now.
	Cached int
	// CachedBytes is the accounted size of the cached keys and their
	// ciphers now, which Tuning.CacheMaxBytes bounds.
	CachedBytes int64
}

type counters struct {
	kmsWraps, kmsUnwraps, kmsErrors, kmsRetries atomic.Uint64
	misses, evictions                           atomic.Uint64
	// staleServed counts stale keys served by loads; cached counts the
	// hits and stale serves answered from the cache, which every warm
	// seal and open adds to, striped (see hitCounts).
	staleServed atomic.Uint64
	// The keyring's counters.
	failovers, breakerDeferred, copiesMissed atomic.Uint64
	cached                                   *hitCounts
}

func newCounters() *counters { return &counters{cached: newStoreHitCounts()} }

// Stats returns a snapshot of the Store's counters: those of its data
// keys and of its index keys (RotateIndexKey) together. The index keys
// have a cache of their own under the same bounds, so Cached and
// CachedBytes may reach twice Tuning.CacheSize and CacheMaxBytes.
func (s *Store) Stats() Stats {
	st := s.familyStats()
	if s.index != nil {
		x := s.index.familyStats()
		st.KMSWraps += x.KMSWraps
		st.KMSUnwraps += x.KMSUnwraps
		st.KMSErrors += x.KMSErrors
		st.KMSRetries += x.KMSRetries
		st.Hits += x.Hits
		st.Misses += x.Misses
		st.StaleServed += x.StaleServed
		st.Evictions += x.Evictions
		st.Cached += x.Cached
		st.CachedBytes += x.CachedBytes
	}
	return st
}

// familyStats is Stats of one key family.
func (s *Store) familyStats() Stats {
	hits, stale := s.ctr.cached.sum()
	return Stats{
		KMSWraps:    s.ctr.kmsWraps.Load(),
		KMSUnwraps:  s.ctr.kmsUnwraps.Load(),
		KMSErrors:   s.ctr.kmsErrors.Load(),
		KMSRetries:  s.ctr.kmsRetries.Load(),
		Hits:        hits,
		Misses:      s.ctr.misses.Load(),
		StaleServed: s.ctr.staleServed.Load() + stale,
		Evictions:   s.ctr.evictions.Load(),

		Failovers:       s.ctr.failovers.Load(),
		BreakerDeferred: s.ctr.breakerDeferred.Load(),
		CopiesMissed:    s.ctr.copiesMissed.Load(),
		BreakersOpen:    s.keepers.breakersOpen(s.clock.wall().UnixNano()),

		Cached:      s.cache.len(),
		CachedBytes: s.cache.accountedBytes(),
	}
}

// eventKind names what an [Event] reports.
type eventKind = string

// The kinds of Event.
const (
	eventWrap           eventKind = "wrap"
	eventUnwrap         eventKind = "unwrap"
	eventStale          eventKind = "stale"
	eventRotate         eventKind = "rotate"
	eventShred          eventKind = "shred"
	eventStateMismatch  eventKind = "state-mismatch"
	eventDestroyVersion eventKind = "destroy-version"
	// Key events (WithKeyEvents).
	eventKeyChange          eventKind = "key-change"
	eventKeyEventsPolling   eventKind = "key-events-polling"
	eventKeyEventsListening eventKind = "key-events-listening"
)

// Event is what a Telemetry.Observer hook receives. It names keys, never
// holds their bytes.
type Event struct {
	// Kind says what happened:
	//
	//   - "wrap", "unwrap": one call to the KMS to wrap or unwrap a data
	//     key (Attempt, Start, Duration and Err describe the call).
	//   - "stale": an expired key served during the stale grace.
	//   - "rotate": a new active version written by Rotate.
	//   - "shred": a tenant's keys destroyed by Shred.
	//   - "destroy-version": one retired version destroyed by
	//     DestroyVersion.
	//   - "state-mismatch": a key table whose state column disagrees with
	//     its versions (the active row is not the tenant's highest live
	//     version, or no row is active while live rows exist). The Store
	//     seals under the highest live version (Version) anyway; Err says
	//     what the table showed. Someone or something wrote the table.
	Kind    string
	Tenant  string
	Version uint32 // 0 for "shred"
	KEKURI  string // for "wrap" and "unwrap"
	// Attempt numbers the call among retries, from 1.
	Attempt int
	// Start and Duration time a KMS call (wall clock, not withClock).
	Start    time.Time
	Duration time.Duration
	// Err is the call's error, nil on success.
	Err error
}
