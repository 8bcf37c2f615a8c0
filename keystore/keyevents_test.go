package keystore

import (
	"bytes"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// eventLog records the observer events of one Store.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) observe(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) count(k string, tenant string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k && (tenant == "" || e.Tenant == tenant) {
			n++
		}
	}
	return n
}

// keyEventsPair is two Stores on one key table, each on a pool of its
// own as two processes would have: writer makes changes, watcher has a
// cache TTL of an hour and WithKeyEvents, so only key events can make it
// see them.
type keyEventsPair struct {
	drv             *insecureTestKMS
	writer, watcher *Store
	events          *eventLog
}

func newKeyEventsPair(t *testing.T, tdb *testDB, opts ...Option) keyEventsPair {
	t.Helper()
	p := keyEventsPair{drv: newInsecureTestKMS(t), events: &eventLog{}}
	p.writer = newTestStore(t, tdb, tdb.db, p.drv.keeper(testKEK))
	opts = append([]Option{WithTuning(Tuning{CacheTTL: time.Hour}), WithKeyEvents(50 * time.Millisecond), WithTelemetry(Telemetry{Observer: p.events.observe})}, opts...)
	p.watcher = newTestStore(t, tdb, tdb.open(t), p.drv.keeper(testKEK), opts...)
	// A change committed before the watcher takes its cursor is applied by
	// the first reconcile, as it should be, but not as an event the
	// observer hears of: the tests count events, so they start after.
	if p.watcher.events != nil {
		waitFor(t, "the watcher to take its trail cursor", p.watcher.events.started.Load)
	}
	return p
}

// sealWith seals a value with c, reporting its error.
func sealWith(c *cipher.Cipher) error {
	_, err := c.Seal(nil, []byte("a value"))
	return err
}

func TestKeyEventsShred(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		p := newKeyEventsPair(t, tdb)
		if _, err := p.writer.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		held, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil {
			t.Fatalf("watcher ActiveCipher(acme) = %v", err)
		}
		other, err := p.watcher.ActiveCipher(ctxb, "globex", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}

		start := time.Now()
		if err := p.writer.Shred(ctxb, "acme"); err != nil {
			t.Fatalf("Shred(acme) = %v", err)
		}
		waitFor(t, "the watcher to refuse the shredded tenant", func() bool {
			_, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
			return errors.Is(err, ErrKeyDestroyed)
		})
		t.Logf("watcher refused the shredded tenant %v after Shred returned (cache TTL 1h)", time.Since(start))
		if err := sealWith(held); !errors.Is(err, cipher.ErrCipherDestroyed) {
			t.Errorf("Seal with the watcher's handed-out cipher after a remote Shred = %v, want ErrCipherDestroyed", err)
		}
		if _, err := p.watcher.Cipher(ctxb, "acme", 1, "t", "c"); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("watcher Key(acme, 1) = %v, want ErrKeyDestroyed", err)
		}
		if err := sealWith(other); err != nil {
			t.Errorf("Seal for another tenant after acme's shred = %v", err)
		}
		// The observer hears of the change once it is applied, so it may
		// come a moment after the refusal above.
		waitFor(t, "the observer to see acme's key-change event", func() bool { return p.events.count("key-change", "acme") > 0 })
	})
}

func TestKeyEventsRotate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		p := newKeyEventsPair(t, tdb)
		c1, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		unwraps := p.watcher.Stats().KMSUnwraps

		start := time.Now()
		v, err := p.writer.Rotate(ctxb, "acme")
		if err != nil || v != 2 {
			t.Fatalf("Rotate(acme) = %d, %v; want 2", v, err)
		}
		waitFor(t, "the watcher to seal under version 2", func() bool {
			c, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
			return err == nil && c.Version() == 2
		})
		t.Logf("watcher sealed under the new version %v after Rotate returned (cache TTL 1h)", time.Since(start))
		if got := p.watcher.Stats().KMSUnwraps - unwraps; got != 1 {
			t.Errorf("watcher KMS unwraps for one remote rotation = %d, want 1 (the new version)", got)
		}
		// The old version still opens what it sealed.
		if err := sealWith(c1); err != nil {
			t.Errorf("Seal with the retired version's cipher = %v, want it usable", err)
		}
	})
}

func TestKeyEventsDestroyVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		p := newKeyEventsPair(t, tdb)
		if _, err := p.writer.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.writer.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		old, err := p.watcher.Cipher(ctxb, "acme", 1, "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		cur, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil || cur.Version() != 2 {
			t.Fatalf("watcher ActiveCipher(acme) = %v, %v; want version 2", cur, err)
		}
		if err := p.writer.DestroyVersion(ctxb, "acme", 1); err != nil {
			t.Fatalf("DestroyVersion(acme, 1) = %v", err)
		}
		waitFor(t, "the watcher to refuse the destroyed version", func() bool {
			_, err := p.watcher.Cipher(ctxb, "acme", 1, "patients", "name")
			return errors.Is(err, ErrKeyDestroyed)
		})
		if err := sealWith(old); !errors.Is(err, cipher.ErrCipherDestroyed) {
			t.Errorf("Seal with the destroyed version's handed-out cipher = %v, want ErrCipherDestroyed", err)
		}
		if err := sealWith(cur); err != nil {
			t.Errorf("Seal with version 2 after version 1 was destroyed = %v", err)
		}
	})
}

// TestKeyEventsRewrapKeepsKeys: a rewrap changes no data key, so the
// watcher keeps its cached keys and calls no KMS.
func TestKeyEventsRewrapKeepsKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		p := newKeyEventsPair(t, tdb, WithMasterKeys(newInsecureTestKMS(t).keeper(testKEK2)))
		c, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		before := p.watcher.Stats()
		to := newInsecureTestKMS(t).keeper(testKEK2)
		w2 := newTestStore(t, tdb, tdb.db, p.drv.keeper(testKEK), WithMasterKeys(to))
		if _, err := w2.Rewrap(ctxb, to, RewrapOptions{}); err != nil {
			t.Fatalf("Rewrap = %v", err)
		}
		// A rotation of another tenant after the rewrap: once the watcher
		// applied it, it has read past the rewrap's events too.
		if _, err := p.watcher.Active(ctxb, "globex"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.writer.Rotate(ctxb, "globex"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the watcher to apply globex's rotation", func() bool { return p.events.count("key-change", "globex") > 0 })
		if err := sealWith(c); err != nil {
			t.Errorf("Seal with acme's cipher after a rewrap = %v, want it usable", err)
		}
		if n := p.events.count("key-change", "acme"); n != 0 {
			t.Errorf("observer saw %d key-change events for acme's rewrap, want 0", n)
		}
		if got := p.watcher.Stats().KMSUnwraps - before.KMSUnwraps; got != 0 {
			t.Errorf("watcher KMS unwraps after acme's rewrap = %d, want 0", got)
		}
	})
}

// TestKeyEventsForged: trail rows and notifications written by someone
// with database access, not by a key change, only make the watcher read
// the tenant's rows again: it keeps serving the key, calls no KMS, and
// reads an oversized tenant or operation cut short.
func TestKeyEventsForged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		p := newKeyEventsPair(t, tdb)
		c, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil {
			t.Fatal(err)
		}
		before := p.watcher.Stats()
		var seq int64
		if err := tdb.db.QueryRow(tdb.q(`SELECT MAX(seq) FROM {keys}_events`)).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		forge := func(op, tenant string) {
			t.Helper()
			seq++
			_, err := tdb.db.Exec(tdb.q(`INSERT INTO {keys}_events (seq, at, operation, tenant_id, version, kek_uri, actor, key_seq, chain_key, mac)
				VALUES (?, ?, ?, ?, 1, '', '', 0, NULL, ?)`), seq, tdb.dialect.TimeArg(time.Now()), op, tenant, []byte("forged"))
			if err != nil {
				t.Fatalf("forge trail row: %v", err)
			}
		}
		forge(opShred, "acme")
		forge(opDestroyVersion, "acme")
		long := 200 // cut to sqldialect.MaxEventOperationLen when read
		if tdb.dialect == sqldialect.MySQL {
			long = 32 // the column's own bound
		}
		forge(strings.Repeat("x", long), "acme")
		if tdb.dialect != sqldialect.MySQL { // VARBINARY(1024) holds no longer tenant
			forge(opShred, strings.Repeat("t", sqldialect.MaxTenantLen+1))
		}
		if tdb.dialect == sqldialect.Postgres {
			for range 200 {
				if _, err := tdb.db.Exec(`SELECT pg_notify($1, $2)`, tdb.table+sqldialect.EventsSuffix, strings.Repeat("9", 4000)); err != nil {
					t.Fatal(err)
				}
			}
		}
		forge(opRotate, "acme") // the last: once applied, so are the others
		if tdb.dialect == sqldialect.Postgres {
			// A listening watcher reads the trail when notified.
			if _, err := tdb.db.Exec(`SELECT pg_notify($1, 'x')`, tdb.table+sqldialect.EventsSuffix); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the watcher to apply the forged rows", func() bool {
			return p.watcher.events.applied.Load() >= seq // white box: the cursor
		})
		got, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		if err != nil || got.Version() != 1 {
			t.Fatalf("watcher ActiveCipher(acme) after forged events = %v, %v; want version 1", got, err)
		}
		if err := sealWith(c); err != nil {
			t.Errorf("Seal with the cipher held before the forged events = %v, want it usable", err)
		}
		if d := p.watcher.Stats().KMSUnwraps - before.KMSUnwraps; d != 0 {
			t.Errorf("KMS unwraps caused by forged events = %d, want 0", d)
		}
	})
}

// TestKeyEventsClose: Close returns only after the watcher (and on
// Postgres the listener) stopped, and gives the listening connection
// back closed, not to the pool.
func TestKeyEventsClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		db := tdb.open(t)
		s, err := New(db, newInsecureTestKMS(t).keeper(testKEK), append(tdb.opts(), WithKeyEvents(10*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		if tdb.dialect == sqldialect.Postgres {
			waitFor(t, "the listener to start", func() bool { return db.Stats().InUse == 1 })
		}
		s.Close()
		select {
		case <-s.events.done:
		default:
			t.Fatal("Close returned before the key events watcher stopped")
		}
		if st := db.Stats(); st.InUse != 0 {
			t.Errorf("pool connections in use after Close = %d, want 0", st.InUse)
		}
	})
}

func TestWithKeyEventsNegative(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := New(db, newInsecureTestKMS(t).keeper(testKEK), WithDialect("sqlite"), WithKeyEvents(-time.Second)); err == nil {
		t.Fatal("New(WithKeyEvents(-1s)) = nil error, want one")
	}
}

// withListenRetry sets the first wait before listening again after the
// listener was lost, so a test can see the polling in between.
func withListenRetry(d time.Duration) Option { return func(c *config) { c.listenRetry = d } }

// listenerPID returns the backend pid of the connection listening on the
// table's channel, 0 if none.
func listenerPID(t *testing.T, tdb *testDB) int {
	t.Helper()
	var pid int
	err := tdb.db.QueryRow(`SELECT COALESCE(MAX(pid), 0) FROM pg_stat_activity WHERE query = $1 AND datname = current_database()`,
		`LISTEN "`+tdb.table+sqldialect.EventsSuffix+`"`).Scan(&pid)
	if err != nil {
		t.Fatalf("find the listener: %v", err)
	}
	return pid
}

// TestKeyEventsListenerLost: with its listening connection killed, the
// watcher says so once (a warning, an observer event), still sees a
// shred by polling while it cannot listen, then listens again on a new
// connection and sees the next change.
func TestKeyEventsListenerLost(t *testing.T) {
	// LISTEN/NOTIFY is Postgres's; the other databases always poll, as
	// the forEachBackend tests show.
	tdb := postgresTestDB(t)
	var (
		logMu sync.Mutex
		logs  bytes.Buffer
	)
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := newKeyEventsPair(t, tdb, WithTelemetry(Telemetry{Logger: logger}), withListenRetry(3*time.Second))
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := p.watcher.ActiveCipher(ctxb, tenant, "patients", "name"); err != nil {
			t.Fatal(err)
		}
	}
	var pid int
	waitFor(t, "the listener to start", func() bool { pid = listenerPID(t, tdb); return pid != 0 })

	if _, err := tdb.db.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatalf("pg_terminate_backend(listener) = %v", err)
	}
	waitFor(t, "key-events-polling", func() bool { return p.events.count("key-events-polling", "") == 1 })
	if err := p.writer.Shred(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watcher to refuse acme by polling", func() bool {
		_, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
		return errors.Is(err, ErrKeyDestroyed)
	})
	if n := p.events.count("key-events-listening", ""); n != 0 {
		t.Fatalf("the listener came back before the shred was seen (%d key-events-listening): polling not shown", n)
	}

	waitFor(t, "key-events-listening", func() bool { return p.events.count("key-events-listening", "") == 1 })
	if again := listenerPID(t, tdb); again == 0 || again == pid {
		t.Fatalf("listener pid after resuming = %d, want a new connection (was %d)", again, pid)
	}
	if _, err := p.writer.Rotate(ctxb, "globex"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watcher to seal globex under version 2", func() bool {
		c, err := p.watcher.ActiveCipher(ctxb, "globex", "patients", "name")
		return err == nil && c.Version() == 2
	})
	logMu.Lock()
	warned := strings.Count(logs.String(), "lost the key events listener")
	logMu.Unlock()
	if warned != 1 {
		t.Errorf("warnings about the lost listener = %d, want 1; logs:\n%s", warned, logs.String())
	}
}

// TestKeyEventsCreateTrail: a key table whose audit trail table does not
// exist yet (made before the trail existed) gets it from a Store with key
// events when it opens, and changes made after are seen.
func TestKeyEventsCreateTrail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		if _, err := tdb.db.Exec(`DROP TABLE ` + tdb.dialect.Quote(tdb.table+sqldialect.EventsSuffix)); err != nil {
			t.Fatalf("drop the trail table: %v", err)
		}
		p := newKeyEventsPair(t, tdb)
		waitFor(t, "the watcher to create the trail table", func() bool {
			var n int
			return tdb.db.QueryRow(tdb.q(`SELECT COUNT(*) FROM {keys}_events`)).Scan(&n) == nil
		})
		if _, err := p.watcher.Active(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.writer.Rotate(ctxb, "acme"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the watcher to seal under version 2", func() bool {
			c, err := p.watcher.ActiveCipher(ctxb, "acme", "patients", "name")
			return err == nil && c.Version() == 2
		})
	})
}
