package keystore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// v1DDL is the key table and audit trail DDL of the releases before
// schema versions (copied, not built from sqldialect, so that a change
// there cannot change what this test upgrades from). {t} is the key table.
func v1DDL(d sqldialect.Dialect, table string) []string {
	var stmts []string
	switch d {
	case sqldialect.MySQL:
		stmts = []string{"CREATE TABLE IF NOT EXISTS `{t}` (\n" +
			"	tenant_id     VARBINARY(1024) NOT NULL,\n" +
			"	version       BIGINT          NOT NULL,\n" +
			"	state         VARCHAR(9) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n" +
			"	kek_uri       TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n" +
			"	wrapped_dek   BLOB,\n" +
			"	created_at    DATETIME(6)     NOT NULL,\n" +
			"	updated_at    DATETIME(6)     NOT NULL,\n" +
			"	active_tenant VARBINARY(1024) GENERATED ALWAYS AS (CASE WHEN state = 'active' THEN tenant_id END) STORED,\n" +
			"	PRIMARY KEY (tenant_id, version),\n" +
			"	UNIQUE KEY `{t}_one_active` (active_tenant),\n" +
			"	CONSTRAINT `{t}_version` CHECK (version BETWEEN 1 AND 4294967295),\n" +
			"	CONSTRAINT `{t}_state` CHECK (CAST(state AS BINARY) IN ('active', 'retired', 'destroyed')),\n" +
			"	CONSTRAINT `{t}_wrapped` CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))\n" +
			") ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			"CREATE TABLE IF NOT EXISTS `{t}_events` (\n" +
				"	seq       BIGINT          NOT NULL PRIMARY KEY,\n" +
				"	at        DATETIME(6)     NOT NULL,\n" +
				"	operation VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,\n" +
				"	tenant_id VARBINARY(1024) NOT NULL,\n" +
				"	version   BIGINT          NOT NULL,\n" +
				"	kek_uri   TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n" +
				"	actor     TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n" +
				"	key_seq   BIGINT          NOT NULL,\n" +
				"	chain_key BLOB,\n" +
				"	mac       VARBINARY(64)   NOT NULL\n" +
				") ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"}
	case sqldialect.SQLite:
		stmts = []string{`CREATE TABLE IF NOT EXISTS "{t}" (
	tenant_id   TEXT    NOT NULL,
	version     INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
	state       TEXT    NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
	kek_uri     TEXT    NOT NULL,
	wrapped_dek BLOB,
	created_at  TEXT    NOT NULL,
	updated_at  TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, version),
	CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
)`, `CREATE UNIQUE INDEX IF NOT EXISTS "{t}_one_active" ON "{t}" (tenant_id) WHERE state = 'active'`,
			`CREATE TABLE IF NOT EXISTS "{t}_events" (
	seq       INTEGER NOT NULL PRIMARY KEY,
	at        TEXT    NOT NULL,
	operation TEXT    NOT NULL,
	tenant_id TEXT    NOT NULL,
	version   INTEGER NOT NULL,
	kek_uri   TEXT    NOT NULL,
	actor     TEXT    NOT NULL,
	key_seq   INTEGER NOT NULL,
	chain_key BLOB,
	mac       BLOB    NOT NULL
)`}
	default:
		stmts = []string{`CREATE TABLE IF NOT EXISTS "{t}" (
	tenant_id   text        NOT NULL,
	version     bigint      NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
	state       text        NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
	kek_uri     text        NOT NULL,
	wrapped_dek bytea,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, version),
	CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
)`, `CREATE UNIQUE INDEX IF NOT EXISTS "{t}_one_active" ON "{t}" (tenant_id) WHERE state = 'active'`,
			`CREATE TABLE IF NOT EXISTS "{t}_events" (
	seq       bigint      NOT NULL PRIMARY KEY,
	at        timestamptz NOT NULL,
	operation text        NOT NULL,
	tenant_id text        NOT NULL,
	version   bigint      NOT NULL,
	kek_uri   text        NOT NULL,
	actor     text        NOT NULL,
	key_seq   bigint      NOT NULL,
	chain_key bytea,
	mac       bytea       NOT NULL
)`}
	}
	for i, s := range stmts {
		stmts[i] = strings.ReplaceAll(s, "{t}", table)
	}
	return stmts
}

// v1Table makes a key table of its own in tdb's database with v1DDL and
// returns tdb pointed at it.
func v1Table(t *testing.T, tdb *testDB) testDB {
	t.Helper()
	v1 := *tdb
	v1.table = fmt.Sprintf("keys_%d", tableSeq.Add(1))
	for _, s := range v1DDL(tdb.dialect, v1.table) {
		if _, err := tdb.db.Exec(s); err != nil {
			t.Fatalf("v1 DDL: %v", err)
		}
	}
	return v1
}

// oldWriter creates and rotates keys the way a release before schema
// versions does, with the v1 statements on the key table alone, and seals
// one value under each key it writes.
type oldWriter struct {
	tdb  *testDB
	kek  *kms.Keeper
	q    *sqldialect.KeyQueries
	mu   sync.Mutex
	vals []oldValue
}

type oldValue struct {
	tenant  string
	version uint32
	value   []byte
}

// write makes version v of tenant (v = 1: its first key; else a
// rotation) and seals a value under it.
func (w *oldWriter) write(ctx context.Context, tenant string, v uint32) error {
	dek := newDEK()
	defer clear(dek)
	wrapped, err := w.kek.Wrap(ctx, dek, dekContext(tenant, v))
	if err != nil {
		return err
	}
	d := w.tdb.dialect
	ts := d.TimeArg(time.Now())
	tx, err := w.tdb.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if v == 1 {
		_, err = tx.ExecContext(ctx, w.q.InsertActive, tenant, int64(v), w.kek.URI(), wrapped, ts, ts)
	} else {
		if _, err = tx.ExecContext(ctx, w.q.RetireActive, ts, tenant); err == nil {
			_, err = tx.ExecContext(ctx, w.q.InsertRotated, tenant, int64(v), w.kek.URI(), wrapped, ts, ts)
		}
	}
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	c, err := cipher.NewCipher(dek, v, codec.Scope{Tenant: tenant, Table: "patients", Column: "name"})
	if err != nil {
		return err
	}
	val, err := c.Seal(nil, []byte("secret of "+tenant))
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.vals = append(w.vals, oldValue{tenant, v, val})
	w.mu.Unlock()
	return nil
}

// TestUpgradeOnline: a key table created by the DDL of the releases
// before schema versions is upgraded by several processes at once (Upgrade
// and New) while a writer of the old release keeps creating and rotating
// keys; every key it wrote, before, during and after, opens through a
// Store of this release, and the version is recorded.
func TestUpgradeOnline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		v1 := v1Table(t, tdb)
		if v, err := CurrentSchema(ctxb, tdb.db, v1.opts()...); err != nil || v != 1 {
			t.Fatalf("CurrentSchema(v1 table) = %d, %v; want 1", v, err)
		}
		drv := newInsecureTestKMS(t)
		kek := drv.keeper(testKEK)
		w := &oldWriter{tdb: &v1, kek: kek, q: tdb.dialect.KeyQueries(v1.table)}

		// The old writer, before the upgrade.
		for i := range 5 {
			if err := w.write(ctxb, fmt.Sprintf("before-%d", i), 1); err != nil {
				t.Fatal(err)
			}
		}
		// The old writer keeps going while four processes upgrade.
		var upgrading atomic.Bool
		upgrading.Store(true)
		writerDone := make(chan error, 1)
		var writes atomic.Int64
		go func() {
			defer close(writerDone)
			for i := 0; upgrading.Load() || i < 10; i++ {
				tenant := fmt.Sprintf("during-%d", i/3)
				if err := w.write(ctxb, tenant, uint32(i%3)+1); err != nil {
					writerDone <- err
					return
				}
				writes.Add(1)
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		found := make(chan int, 3)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := v1.open(t)
				v, err := Upgrade(ctxb, db, v1.opts()...)
				if err != nil {
					errs <- err
				}
				found <- v
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(v1.open(t), kek, v1.opts()...)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
		wg.Wait()
		upgrading.Store(false)
		if err := <-writerDone; err != nil {
			t.Fatalf("old writer during the upgrade: %v", err)
		}
		close(errs)
		for err := range errs {
			t.Fatalf("upgrade: %v", err)
		}
		close(found)
		for v := range found {
			if v != 1 && v != SchemaVersion {
				t.Fatalf("Upgrade() found version %d, want 1 or %d", v, SchemaVersion)
			}
		}
		// And after it.
		for i := range 3 {
			if err := w.write(ctxb, fmt.Sprintf("after-%d", i), 1); err != nil {
				t.Fatalf("old writer after the upgrade: %v", err)
			}
		}
		if v, err := CurrentSchema(ctxb, tdb.db, v1.opts()...); err != nil || v != SchemaVersion {
			t.Fatalf("CurrentSchema() after the upgrade = %d, %v; want %d", v, err, SchemaVersion)
		}
		if v, err := Upgrade(ctxb, tdb.db, v1.opts()...); err != nil || v != SchemaVersion {
			t.Fatalf("Upgrade() again = %d, %v; want %d (nothing to do)", v, err, SchemaVersion)
		}

		// Nothing lost: every value the old writer sealed opens.
		s := newTestStore(t, &v1, tdb.db, kek, WithoutUpgrade())
		for _, v := range w.vals {
			c, err := s.Cipher(ctxb, v.tenant, v.version, "patients", "name")
			if err != nil {
				t.Fatalf("Cipher(%s v%d) = %v", v.tenant, v.version, err)
			}
			if got, err := c.Open(nil, v.value); err != nil || string(got) != "secret of "+v.tenant {
				t.Fatalf("Open(%s v%d) = %q, %v", v.tenant, v.version, got, err)
			}
		}
		if want := 5 + 3 + int(writes.Load()); len(w.vals) != want || want < 18 {
			t.Fatalf("%d values written, want %d (at least 18)", len(w.vals), want)
		}
		// And the upgraded table takes a keyring's copies.
		b := newInsecureTestKMS(t)
		ringed := newTestStore(t, &v1, tdb.db, kek, WithKeyring(b.keeper(testKEK2)))
		if _, err := ringed.Rotate(ctxb, "after-0"); err != nil {
			t.Fatal(err)
		}
		wantCopies(t, ringed, "after-0", 2, testKEK, testKEK2)
	})
}

// TestCreateTableRecordsVersion: a table CreateTable makes is at the
// current version, and upgrading it does nothing.
func TestCreateTableRecordsVersion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		if v, err := CurrentSchema(ctxb, tdb.db, tdb.opts()...); err != nil || v != SchemaVersion {
			t.Fatalf("CurrentSchema() = %d, %v; want %d", v, err, SchemaVersion)
		}
		mustCreateTable(t, tdb)
		if v, err := Upgrade(ctxb, tdb.db, tdb.opts()...); err != nil || v != SchemaVersion {
			t.Fatalf("Upgrade() = %d, %v; want %d", v, err, SchemaVersion)
		}
		var n int
		if err := tdb.db.QueryRow(tdb.q(`SELECT COUNT(*) FROM {keys}_schema`)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("schema table rows = %d, %v; want 1", n, err)
		}
	})
}
