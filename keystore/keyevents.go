package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// defaultKeyEventsPoll is the poll interval of WithKeyEvents(0).
const defaultKeyEventsPoll = time.Second

// maxListenRetry bounds the wait between attempts to listen again after
// the listener's connection was lost.
const maxListenRetry = 30 * time.Second

// minCatchUpGap spaces catch-ups woken by notifications, so a flood of
// them (anyone who can connect to the database can NOTIFY) costs at most
// one trail read per gap.
const minCatchUpGap = 20 * time.Millisecond

// pendingRounds is how many poll intervals a rotated tenant stays watched
// for a load that read the table before the rotation (see keyEvents.recheck).
const pendingRounds = 30

// WithKeyEvents makes the Store see key changes made by other processes
// (and by itself) within moments instead of within its cache TTL: a
// rotation, shred or destroyed version of a tenant this process holds
// in its cache drops what the cache held, and handed-out ciphers of a
// destroyed key fail with ErrKeyDestroyed, as if the change had been
// made here. (A rewrap changes no data key, so cached keys stay.)
//
// The change log is the key table's audit trail, which every change
// appends to in its own transaction; its highest seq is the table's
// epoch. On Postgres a change also sends a notification (NOTIFY on the
// channel named like the trail table, colcrypt_keys_events by default)
// that is delivered when it commits. The Store listens on one connection
// it takes from db's pool for as long as it is open, so give the pool one
// connection more than it needs otherwise (SetMaxOpenConns; a pool of one
// is polled instead), and use pgx's stdlib driver (other Postgres drivers
// are polled). On MySQL, MariaDB and SQLite, and on Postgres while the
// listening connection is lost, the Store polls the trail every poll
// interval (0 means 1 second): one indexed query that reads nothing when
// nothing changed. A lost listener is logged once at warning level and
// reported to the observer (eventKeyEventsPolling), and the Store listens
// again as soon as it can (eventKeyEventsListening) and reads what it
// missed from the trail, so no change is lost either way.
//
// What a change does is read from the key table, never from the
// notification or the trail row, which anyone who can write the database
// can forge: an event only makes the Store read the tenant's rows again,
// so a forged one costs a query, never a KMS call, and can drop a cached
// key only where the table says it is gone. Close stops the watching
// goroutines.
func WithKeyEvents(poll time.Duration) Option {
	return func(c *config) {
		c.keyEvents = true
		c.keyEventsPoll = poll
	}
}

// keyEventsInterval checks and returns the configured poll interval.
func (c *config) keyEventsInterval() (time.Duration, error) {
	switch {
	case c.keyEventsPoll < 0:
		return 0, fmt.Errorf("keystore: key events poll interval must not be negative, got %v", c.keyEventsPoll)
	case c.keyEventsPoll == 0:
		return defaultKeyEventsPoll, nil
	}
	return c.keyEventsPoll, nil
}

// announceChange tells listening processes, on Postgres, that the change
// of tx is about to commit: the notification is delivered on commit, and
// dropped if tx rolls back. Its payload, the trail seq, is a hint only.
func (s *Store) announceChange(ctx context.Context, tx *sql.Tx, seq int64) error {
	if s.kq.Notify == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.kq.Notify, s.kq.Channel, strconv.FormatInt(seq, 10)); err != nil {
		return fmt.Errorf("keystore: announce key change: %w", err)
	}
	return nil
}

// keyEvents watches the key table's trail for changes and applies them
// to the cache. It holds what it needs apart from the Store, as the
// janitor does, so that a Store dropped without Close can be collected.
type keyEvents struct {
	db      *sql.DB
	dialect sqldialect.Dialect
	table   string
	q       sqldialect.KeyEventQueries
	cache   *cache
	marks   *versionMarks
	log     *slog.Logger
	observe func(Event)
	poll    time.Duration
	retry   time.Duration // the first wait before listening again after a loss

	wake    chan struct{} // a notification arrived; buffered, so many coalesce into one
	applied atomic.Int64  // the cursor after the last catch-up, for tests
	started atomic.Bool   // the cursor is taken: later changes are applied as events, for tests
	done    chan struct{} // closed when run has returned

	// Owned by the run goroutine.
	cursor      int64 // the highest trail seq applied
	haveCursor  bool
	triedCreate bool              // the trail table was missing or unreadable once: CREATE IF NOT EXISTS was tried
	readFailed  bool              // the last trail read failed (logged once)
	pending     map[string]uint32 // rotated tenant → the version its active key must reach
	rounds      map[string]int    // rounds each pending tenant has left
}

func newKeyEvents(s *Store, poll, retry time.Duration) *keyEvents {
	if retry <= 0 {
		retry = poll
	}
	return &keyEvents{
		db: s.db, dialect: s.dialect, table: s.table, q: s.kq,
		cache: s.cache, marks: s.marks, log: s.log, observe: s.observe, poll: poll, retry: retry,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		pending: make(map[string]uint32), rounds: make(map[string]int),
	}
}

// listenResult is what a listener goroutine reports: that it listens
// (err nil, up true), or that it stopped and why.
type listenResult struct {
	up  bool
	err error
}

// run reads the trail until ctx ends: when woken by a notification, and
// every poll interval while no listener runs. On Postgres it keeps a
// listener running, starting it again after a loss with backoff.
func (w *keyEvents) run(ctx context.Context) {
	defer close(w.done)
	w.catchUp(ctx) // takes the cursor: changes before now concern no cached key
	tick := time.NewTicker(w.poll)
	defer tick.Stop()

	var (
		listener  chan listenResult // nil while none runs
		listening bool
		lost      bool // the listener was lost, and said so
		retry     = w.retry
		nextTry   time.Time
		lastCatch time.Time
	)
	canListen := w.q.Listen != ""
	start := func() {
		listener = make(chan listenResult, 2)
		go w.listen(ctx, listener)
	}
	if canListen {
		start()
	}
	for {
		select {
		case <-ctx.Done():
			if listener != nil {
				for r := range listener {
					_ = r // drain until the listener has returned
				}
			}
			return
		case r, ok := <-listener:
			switch {
			case ok && r.up:
				listening, retry = true, w.retry
				if lost {
					lost = false
					w.log.LogAttrs(ctx, slog.LevelInfo, "keystore: listening for key events again", slog.String("table", w.table))
					w.emit(Event{Kind: eventKeyEventsListening})
				}
				// Changes committed while nobody listened are in the trail.
				w.catchUp(ctx)
			case ok:
				// The listener stopped; its channel closes next.
				listening = false
				if ctx.Err() != nil {
					continue
				}
				if !lost {
					lost = true
					w.log.LogAttrs(ctx, slog.LevelWarn, "keystore: lost the key events listener; polling the key table until it is back",
						slog.String("table", w.table), slog.Duration("poll", w.poll), slog.String("error", r.err.Error()))
					w.emit(Event{Kind: eventKeyEventsPolling, Err: r.err})
				}
				if errors.Is(r.err, errNoListen) || errors.Is(r.err, errPoolOfOne) {
					canListen = false
				}
				nextTry = time.Now().Add(retry)
				retry = min(2*retry, maxListenRetry)
			default:
				listener = nil
			}
		case <-w.wake:
			if wait := minCatchUpGap - time.Since(lastCatch); wait > 0 {
				select {
				case <-ctx.Done():
					continue
				case <-time.After(wait):
				}
			}
			lastCatch = time.Now()
			w.catchUp(ctx)
		case now := <-tick.C:
			if !listening {
				w.catchUp(ctx)
			}
			w.recheck()
			if canListen && listener == nil && !now.Before(nextTry) {
				start()
			}
		}
	}
}

// signal wakes run for a catch-up; signals sent while one is pending
// coalesce.
func (w *keyEvents) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// trailEvent is one row of the trail as key events read it.
type trailEvent struct {
	seq       int64
	operation string
	tenant    string
	version   int64
}

// catchUp reads the trail past the cursor and applies it, in pages. The
// first successful call only takes the cursor; the first failing one
// creates the trail table if it is missing (a key table made before the
// audit trail existed).
func (w *keyEvents) catchUp(ctx context.Context) {
	if !w.haveCursor {
		err := w.db.QueryRowContext(ctx, w.q.Head).Scan(&w.cursor)
		if err != nil && ctx.Err() == nil && !w.triedCreate {
			w.triedCreate = true
			if cerr := createEventsTable(ctx, w.db, w.dialect, w.table); cerr == nil {
				err = w.db.QueryRowContext(ctx, w.q.Head).Scan(&w.cursor)
			}
		}
		if err != nil {
			w.failed(ctx, err)
			return
		}
		w.haveCursor = true
		defer w.started.Store(true)
		// Keys cached before the cursor was taken may predate a change
		// committed before it: check each against the table once.
		for _, t := range w.cache.tenantNames() {
			w.reconcile(ctx, t)
		}
		w.applied.Store(w.cursor)
		w.recovered(ctx)
		return
	}
	for {
		evs, err := w.read(ctx)
		if err != nil {
			w.failed(ctx, err)
			return
		}
		w.recovered(ctx)
		w.apply(ctx, evs)
		w.applied.Store(w.cursor)
		if len(evs) < maxEventsPerRead {
			return
		}
	}
}

// read returns the next page of trail rows past the cursor.
func (w *keyEvents) read(ctx context.Context) ([]trailEvent, error) {
	rows, err := w.db.QueryContext(ctx, w.q.Since, w.cursor, maxEventsPerRead)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []trailEvent
	for rows.Next() {
		var e trailEvent
		if err := rows.Scan(&e.seq, &e.operation, &e.tenant, &e.version); err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// changesCache reports whether a trail operation can make a cached key
// or view wrong. A first key (create) replaces nothing cached, a rewrap
// and a copy added or removed keep the data key, and a chain key is the trail's own: dropping cached
// keys for those would cost a KMS call each for nothing. Operations this
// release does not know are treated as changes.
func changesCache(op string) bool {
	switch op {
	case opCreate, opRewrap, opChainKey, opAddMasterKey, opRemoveMasterKey, opSetTenantKEK:
		return false
	}
	return true
}

// apply moves the cursor past evs and reconciles each tenant they name
// that the cache holds, once however many events name it.
func (w *keyEvents) apply(ctx context.Context, evs []trailEvent) {
	var tenants []string
	shred := make(map[string]bool) // tenant → a shred names it
	for _, e := range evs {
		w.cursor = max(w.cursor, e.seq)
		if !changesCache(e.operation) || validTenant(e.tenant) != nil {
			continue
		}
		if _, dup := shred[e.tenant]; !dup {
			tenants = append(tenants, e.tenant)
		}
		shred[e.tenant] = shred[e.tenant] || e.operation == opShred
	}
	for _, t := range tenants {
		// Nothing cached, nothing to drop: the next load reads the table.
		// But a shredded tenant is looked at anyway, so that a load in
		// flight cannot cache its key after the shred (see
		// cache.destroyTenant).
		if !w.cache.holdsTenant(t) && !shred[t] {
			continue
		}
		w.reconcile(ctx, t)
		w.emit(Event{Kind: eventKeyChange, Tenant: t})
	}
}

// reconcile makes the cache agree with the tenant's rows: versions the
// table destroyed are zeroed and remembered as destroyed (handed-out
// ciphers fail with ErrKeyDestroyed), versions it no longer holds are
// dropped, a tenant with no live version left is shredded here too, and
// the tenant's active and live views are dropped so the next seal reads
// the table (a new version is unwrapped then, once). No KMS call.
func (w *keyEvents) reconcile(ctx context.Context, tenant string) {
	defer w.cache.forgetTenantViews(tenant)
	cached := w.cache.cachedVersions(tenant)
	state := make(map[uint32]rowState, len(cached))
	for _, v := range cached {
		state[v] = ""
	}
	var live, destroyed int
	var top uint32
	rows, err := w.db.QueryContext(ctx, w.q.States, tenant)
	if err != nil {
		w.log.LogAttrs(ctx, slog.LevelDebug, "keystore: key event: cannot read the tenant's rows", slog.String("tenant", tenant), slog.String("error", err.Error()))
		return
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v  int64
			st string
		)
		if err := rows.Scan(&v, &st); err != nil || v < 1 || v > 1<<32-1 {
			return
		}
		s, ok := parseState(st)
		if !ok {
			return
		}
		if s == stateDestroyed {
			destroyed++
		} else {
			live++
			top = max(top, uint32(v))
		}
		if _, ok := state[uint32(v)]; ok {
			state[uint32(v)] = s
		}
	}
	if rows.Err() != nil {
		return
	}
	if live == 0 && destroyed > 0 {
		w.cache.destroyTenant(tenant)
		return
	}
	for v, s := range state {
		switch s {
		case stateDestroyed:
			w.marks.destroy(tenant, v)
			w.cache.remove(keyID{tenant, v}, ErrKeyDestroyed)
		case "":
			w.cache.remove(keyID{tenant, v}, ErrKeyEvicted)
		}
	}
	if top > 0 {
		w.pending[tenant] = top
		w.rounds[tenant] = pendingRounds
	}
}

// recheck closes the window of a load that read the tenant's rows before
// a rotation and recorded the old version as active after reconcile
// dropped the views: while a tenant reconciled lately shows an active
// version below the table's highest live one, its views are dropped
// again. A tenant leaves the watch once its active version caught up, or
// after pendingRounds polls.
func (w *keyEvents) recheck() {
	for t, top := range w.pending {
		v, ok := w.cache.activeVersion(t)
		if ok && v < top {
			w.cache.forgetTenantViews(t)
		}
		if ok && v >= top || w.rounds[t] <= 1 {
			delete(w.pending, t)
			delete(w.rounds, t)
			continue
		}
		w.rounds[t]--
	}
}

// failed reports a failed trail read, at warning level once until a read
// succeeds again.
func (w *keyEvents) failed(ctx context.Context, err error) {
	if ctx.Err() != nil || w.readFailed {
		return
	}
	w.readFailed = true
	w.log.LogAttrs(ctx, slog.LevelWarn, "keystore: cannot read key events; other processes' key changes are seen within the cache TTL until it works again",
		slog.String("table", w.table), slog.String("error", err.Error()))
}

func (w *keyEvents) recovered(ctx context.Context) {
	if w.readFailed {
		w.readFailed = false
		w.log.LogAttrs(ctx, slog.LevelInfo, "keystore: reading key events again", slog.String("table", w.table))
	}
}

func (w *keyEvents) emit(e Event) {
	if w.observe != nil {
		w.observe(e)
	}
}

// holdsTenant reports whether the cache holds any key of the tenant.
func (c *cache) holdsTenant(tenant string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tenants[tenant] != nil
}

// tenantNames returns the tenants the cache holds keys of.
func (c *cache) tenantNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.tenants))
	for t := range c.tenants {
		names = append(names, t)
	}
	return names
}

// cachedVersions returns the versions of the tenant the cache holds.
func (c *cache) cachedVersions(tenant string) []uint32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	te := c.tenants[tenant]
	if te == nil {
		return nil
	}
	vs := make([]uint32, len(te.versions))
	for i, e := range te.versions {
		vs[i] = e.key.version
	}
	return vs
}

// activeVersion returns the version of the tenant's active record, if
// the cache has one.
func (c *cache) activeVersion(tenant string) (uint32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if te := c.tenants[tenant]; te != nil && te.active != nil {
		return te.active.entry.key.version, true
	}
	return 0, false
}
