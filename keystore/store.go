package keystore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// Store is the key table of one database and the cache of its unwrapped
// data keys. It is safe for concurrent use; create one per process and
// database and share it.
//
// The Store wraps every key it creates with the keeper given to New (or
// the tenant's own, see TenantPolicy.KEK), and unwraps each row with the
// configured keeper its kek_uri names: the one given to New or one given
// to WithMasterKeys. A row naming any other master key fails with
// ErrUnknownMasterKey; the Store opens nothing a row names.
type Store struct {
	db      *sql.DB
	kek     *kms.Keeper
	dialect sqldialect.Dialect
	table   string
	q       *sqldialect.KeyQueries
	rq      *sqldialect.RingQueries // the copies and schema tables
	eq      sqldialect.EventQueries // the audit trail's statements
	kq      sqldialect.KeyEventQueries
	events  *keyEvents // nil without WithKeyEvents

	// purpose is the KMS wrap context's purpose of the keys in table:
	// dekPurpose, or indexPurpose in the index key family.
	purpose string
	// index is the tenant index key family (indexkeys.go): a Store of its
	// own over the sibling table, nil inside that Store, and nil when the
	// key table's name leaves no room for the sibling's.
	index *Store
	// assignOK holds the tenant master key assignments this Store has
	// checked (tenantkek.go).
	assignMu sync.Mutex
	assignOK map[string]struct{}
	// legacy caches the legacy index table (legacyindex.go); nil in the
	// index key family.
	legacy *legacyIndexes
	// parent is, in the index key family, the Store it belongs to.
	parent *Store

	ttl, grace, probe time.Duration
	attempts          int
	base, max         time.Duration
	kmsTimeout        time.Duration
	cooldown          time.Duration // Tuning.BreakerCooldown
	tenantKEK         func(tenant string) string
	jitter            func(n int64) int64 // uniform in [0, n); rand.Int64N unless a test says otherwise
	clock             *clock
	log               *slog.Logger
	observe           func(Event)
	tel               *telemetry    // OpenTelemetry instruments: KMS calls, key table queries, cache counters
	policy            statePolicy   // tenants and versions the application allows
	marks             *versionMarks // highest version seen and versions destroyed, per tenant

	cache   *cache
	flights flightGroup
	keepers masterKeys
	audit   auditChain
	ctr     *counters // apart from the Store: the cache counts evictions, and must not keep the Store reachable

	stop   context.CancelFunc // cancels loads in flight and the janitor
	closed atomic.Bool
	once   sync.Once
}

// New returns a Store over the key table in db, wrapping new keys with
// kek. It does not create the table: run CreateTable first (a migration
// step). The dialect is detected from db's driver unless WithDialect
// says otherwise.
//
// A Store runs one background goroutine, which advances the cache's
// coarse clock and zeroes expired keys; Close stops it and zeroes every
// cached key. (A Store dropped without Close is cleaned up the same way
// when it is garbage collected, but do not count on when.)
func New(db *sql.DB, kek *kms.Keeper, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("keystore: New: nil *sql.DB")
	}
	if kek == nil {
		return nil, fmt.Errorf("keystore: New: nil kms.Keeper")
	}
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.resolveDialect(db); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	poll, err := cfg.keyEventsInterval()
	if err != nil {
		return nil, err
	}
	keepers, err := newMasterKeys(kek, cfg.keyring, cfg.masterKeys)
	if err != nil {
		return nil, err
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if err := openSchema(db, &cfg); err != nil {
		return nil, err
	}
	stopCtx, stop := context.WithCancel(context.Background())
	s := &Store{
		db:         db,
		kek:        kek,
		purpose:    cfg.purpose,
		dialect:    cfg.dialect,
		table:      cfg.table,
		q:          cfg.dialect.KeyQueries(cfg.table),
		rq:         cfg.dialect.RingQueries(cfg.table),
		cooldown:   cfg.cooldown,
		eq:         cfg.dialect.EventQueries(cfg.table, opChainKey),
		kq:         cfg.dialect.KeyEventQueries(cfg.table),
		ttl:        cfg.ttl,
		grace:      cfg.grace,
		probe:      min(max(cfg.ttl/10, defaultStaleProbeLo), defaultStaleProbeHi),
		attempts:   cfg.attempts,
		base:       cfg.base,
		max:        cfg.max,
		kmsTimeout: cfg.kmsTimeout,
		tenantKEK:  cfg.tenantKEK,
		clock:      newClock(cfg.now, cfg.ttl),
		log:        cfg.log,
		observe:    cfg.observe,
		policy:     cfg.policy,
		marks:      newVersionMarks(cfg.size),
		stop:       stop,
		ctr:        newCounters(),
	}
	s.cache = newCache(cfg.size, cfg.bytes, &s.ctr.evictions)
	if !cfg.indexFamily {
		s.legacy = newLegacyIndexes(s)
	}
	clk := s.clock
	breakersOpen := func() int { return keepers.breakersOpen(clk.wall().UnixNano()) }
	if s.tel, err = newTelemetry(&cfg, s.ctr, s.cache, breakersOpen); err != nil {
		stop()
		return nil, err
	}
	s.flights.stop = stopCtx
	s.keepers = keepers

	// The janitor holds the cache and the clock, not the Store, so a
	// Store dropped without Close can still be collected; its cleanup
	// then stops the janitor and zeroes the keys.
	go janitor(stopCtx, s.cache, s.clock, sweepInterval(cfg.ttl, cfg.grace))
	if cfg.keyEvents {
		s.events = newKeyEvents(s, poll, cfg.listenRetry)
		go s.events.run(stopCtx)
	}
	if !cfg.indexFamily {
		if s.index, err = newIndexFamily(db, kek, cfg); err != nil {
			s.Close()
			return nil, err
		}
		if s.index != nil {
			s.index.parent = s
		}
	}
	runtime.AddCleanup(s, func(a cleanupArgs) { a.cache.close(); a.tel.close(); stop() }, cleanupArgs{s.cache, s.tel})
	return s, nil
}

// cleanupArgs is what the cleanup of a Store dropped without Close
// needs, none of it holding the Store.
type cleanupArgs struct {
	cache *cache
	tel   *telemetry
}

// sweepInterval is how often the janitor looks for keys whose TTL and
// grace have passed: a quarter of the shortest of them, within [1s, 1m].
func sweepInterval(ttl, grace time.Duration) time.Duration {
	d := ttl
	if grace > 0 && grace < d {
		d = grace
	}
	return min(max(d/4, time.Second), time.Minute)
}

// janitor advances the coarse clock and sweeps expired keys.
func janitor(ctx context.Context, c *cache, clk *clock, every time.Duration) {
	var tick <-chan time.Time
	if !clk.custom {
		t := time.NewTicker(clk.res)
		defer t.Stop()
		tick = t.C
	}
	sweep := time.NewTicker(every)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			clk.advance()
		case <-sweep.C:
			c.sweep(clk.precise())
		}
	}
}

// Close zeroes every cached key, stops the janitor and the key events
// watcher (WithKeyEvents, waiting for it to return), and cancels loads in
// flight. The keepers given to New and WithMasterKeys are the caller's to
// close. Keys handed out earlier fail with ErrClosed from then on. Close
// is idempotent.
func (s *Store) Close() {
	s.once.Do(func() {
		s.closed.Store(true)
		s.stop()
		if s.events != nil {
			<-s.events.done
		}
		s.cache.close()
		s.audit.mu.Lock()
		clear(s.audit.key)
		s.audit.mu.Unlock()
		s.tel.close()
		if s.index != nil {
			s.index.Close()
		}
	})
}

// wrapKeeper returns the keeper that wraps the tenant's new keys and
// whether it is the tenant's own (stored by SetTenantMasterKey, or
// TenantPolicy.KEK), which wraps them alone; otherwise it is the Store's
// own, the first of the keyring. It is always a configured keeper,
// whatever a stored name or TenantPolicy.KEK says.
func (s *Store) wrapKeeper(ctx context.Context, tenant string) (*kms.Keeper, bool, error) {
	kp, ok, err := s.ownKeeper(ctx, tenant)
	if err != nil || ok {
		return kp, ok, err
	}
	if s.tenantKEK != nil {
		if name := s.tenantKEK(tenant); name != "" {
			kp, err := s.keepers.get(tenant, 0, name)
			return kp, true, err
		}
	}
	return s.kek, false, nil
}

// policyOwnsKEK says whether TenantPolicy.KEK gives the tenant a master key
// of its own: such a tenant's keys get no keyring copy (AddMasterKey), even
// when its stored assignment is missing, so that deleting the row does not
// undo what the configuration says.
func (s *Store) policyOwnsKEK(tenant string) bool {
	return s.tenantKEK != nil && s.tenantKEK(tenant) != ""
}

// Format describes the Store under every fmt verb (%v, %+v, %#v, %s):
// table, dialect and master key URI, which hold no secret, so no verb can
// walk into the cache. slog's text handler formats values with %+v, and
// encoding/json sees no exported field, so neither reaches a key either.
func (s *Store) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "keystore.Store(table=%s, dialect=%s, kek=%s)", s.table, s.dialect.String(), s.kek.URI())
}

var _ fmt.Formatter = (*Store)(nil)

// errIfClosed returns ErrClosed after Close.
func (s *Store) errIfClosed() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// countHit counts a call answered from the cache: a hit, or a stale
// serve if stale.
func (s *Store) countHit(stale bool) { s.ctr.cached.add(stale) }

func (s *Store) emit(e Event) {
	if s.observe != nil {
		s.observe(e)
	}
}
