package keystore

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// TestTenantIDsAreExact: tenant ids that a collation could fold together
// (case, trailing spaces, Unicode normalization, ß/ss) are different
// tenants with different keys on every dialect. On sqldialect.MySQL a _ci or PAD
// SPACE column would hand one of them the other's key.
func TestTenantIDsAreExact(t *testing.T) {
	tenants := []string{"acme", "Acme", "ACME", "acme ", " acme", "caf\u00e9", "cafe\u0301", "stra\u00dfe", "strasse", "\u212bngstr\u00f6m", "\u00c5ngstr\u00f6m"}
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		drv := newInsecureTestKMS(t)
		s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
		keys := map[string]*dataKey{}
		for _, tn := range tenants {
			k, err := s.active(ctxb, tn)
			if err != nil {
				t.Fatalf("Active(%q) = %v", tn, err)
			}
			if k.Tenant() != tn || k.Version() != 1 {
				t.Fatalf("Active(%q) = (%q, v%d), want (%q, v1)", tn, k.Tenant(), k.Version(), tn)
			}
			keys[tn] = k
		}
		if n := countRows(t, tdb, "state = 'active'"); n != len(tenants) {
			t.Fatalf("active rows = %d, want %d (one per tenant id)", n, len(tenants))
		}
		for _, tn := range tenants {
			if n := countRows(t, tdb, "tenant_id = ?", tn); n != 1 {
				t.Errorf("rows WHERE tenant_id = %q: %d, want 1", tn, n)
			}
		}
		got, err := s.Tenants(ctxb)
		if err != nil {
			t.Fatalf("Tenants() = %v", err)
		}
		// Compared as sets: sqldialect.Postgres sorts under the database's collation.
		got, want := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tenants))
		if !slices.Equal(got, want) {
			t.Errorf("Tenants() = %q, want %q", got, want)
		}

		// A fresh process reads each tenant's own row back: every key
		// opens only its own tenant's values.
		other := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
		for _, tn := range tenants {
			k, err := other.lookupKey(ctxb, tn, 1)
			if err != nil {
				t.Fatalf("other Key(%q, 1) = %v", tn, err)
			}
			sealOpen(t, keys[tn], k)
		}
		for i, a := range tenants {
			ca, _ := keys[a].Cipher("patients", "name")
			v, _ := ca.Seal(nil, []byte("x"))
			for _, b := range tenants[i+1:] {
				cb, _ := keys[b].Cipher("patients", "name")
				if _, err := cb.Open(nil, v); err == nil {
					t.Errorf("a value sealed for tenant %q opens with the key of %q", a, b)
				}
			}
		}

		// Rotating or shredding one leaves its look-alikes alone.
		if v, err := s.Rotate(ctxb, "Acme"); err != nil || v != 2 {
			t.Fatalf("Rotate(Acme) = %d, %v; want 2", v, err)
		}
		if err := s.Shred(ctxb, "acme "); err != nil {
			t.Fatalf("Shred(%q) = %v", "acme ", err)
		}
		for _, tn := range tenants {
			want := map[string]string{"Acme": "retired", "acme ": "destroyed"}[tn]
			if want == "" {
				want = "active"
			}
			if r := readRaw(t, tdb, tn, 1); r.state != want {
				t.Errorf("row (%q, 1) state = %s after Rotate(Acme) and Shred(%q), want %s", tn, r.state, "acme ", want)
			}
		}
	})
}

// TestSerializationFailure: a real deadlock between two transactions is
// recognized as a serialization failure (so Rotate and get-or-create
// retry it) and not as a unique violation.
func TestSerializationFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		if tdb.dialect == sqldialect.SQLite {
			t.Skip("SQLite has one writer at a time: no deadlocks to detect")
		}
		tbl := tdb.table + "_dl"
		if _, err := tdb.db.Exec(`CREATE TABLE ` + tbl + ` (id integer PRIMARY KEY, v integer NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := tdb.db.Exec(`INSERT INTO ` + tbl + ` (id, v) VALUES (1, 0), (2, 0)`); err != nil {
			t.Fatal(err)
		}
		upd := tdb.dialect.Rebind(`UPDATE ` + tbl + ` SET v = v + 1 WHERE id = ?`)
		txs := make([]*sql.Tx, 2)
		for i := range txs {
			tx, err := tdb.db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// Each holds its own row's lock...
			if _, err := tx.Exec(upd, i+1); err != nil {
				t.Fatal(err)
			}
			txs[i] = tx
		}
		// ...then asks for the other's: a cycle, whatever the timing.
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, tx := range txs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, errs[i] = tx.Exec(upd, 2-i); errs[i] != nil {
					tx.Rollback() // sqldialect.Postgres holds the victim's locks until then
				}
			}()
		}
		wg.Wait()
		failed := 0
		for i, err := range errs {
			if err == nil {
				continue
			}
			failed++
			if !tdb.dialect.IsSerializationFailure(err) || tdb.dialect.IsUniqueViolation(err) {
				t.Errorf("tx %d: deadlock error %v: isSerializationFailure = %v, isUniqueViolation = %v; want true, false",
					i, err, tdb.dialect.IsSerializationFailure(err), tdb.dialect.IsUniqueViolation(err))
			}
			wrapped := fmt.Errorf("keystore: rotate tenant %q: %w", "acme", err)
			if !tdb.dialect.IsSerializationFailure(wrapped) {
				t.Errorf("isSerializationFailure(wrapped %v) = false, want true", err)
			}
		}
		if failed != 1 {
			t.Fatalf("deadlocked transactions: %d failed (%v), want exactly 1", failed, errs)
		}
	})
}

// MySQLError has the driver's error type name and field, but not its
// package: isUniqueViolation must not take it for the driver's.
type MySQLError struct{ Number uint16 }

func (e *MySQLError) Error() string { return "not the driver's" }

func TestMySQLErrorNumber(t *testing.T) {
	dup := &mysqldrv.MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}, Message: "Duplicate entry"}
	deadlock := &mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found"}
	check := &mysqldrv.MySQLError{Number: 4025, Message: "CONSTRAINT failed"}
	for _, tc := range []struct {
		name        string
		err         error
		unique, ser bool
	}{
		{"nil", nil, false, false},
		{"duplicate", dup, true, false},
		{"duplicate wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", dup)), true, false},
		{"duplicate joined", errors.Join(io.EOF, dup), true, false},
		{"ER_DUP_KEY", &mysqldrv.MySQLError{Number: 1022}, true, false},
		{"ER_DUP_ENTRY_WITH_KEY_NAME", &mysqldrv.MySQLError{Number: 1586}, true, false},
		{"deadlock", deadlock, false, true},
		{"deadlock wrapped", fmt.Errorf("x: %w", deadlock), false, true},
		{"check", check, false, false},
		{"typed nil", (*mysqldrv.MySQLError)(nil), false, false},
		{"look-alike type", &MySQLError{Number: 1062}, false, false},
		{"text only", errors.New("Error 1062 (23000): Duplicate entry"), false, false},
		{"other driver", io.ErrUnexpectedEOF, false, false},
	} {
		if got := sqldialect.MySQL.IsUniqueViolation(tc.err); got != tc.unique {
			t.Errorf("MySQL.IsUniqueViolation(%s) = %v, want %v", tc.name, got, tc.unique)
		}
		if got := sqldialect.MySQL.IsSerializationFailure(tc.err); got != tc.ser {
			t.Errorf("MySQL.IsSerializationFailure(%s) = %v, want %v", tc.name, got, tc.ser)
		}
	}
	// A chain that never ends is cut off, not followed forever.
	if sqldialect.MySQL.IsUniqueViolation(loopErr{}) {
		t.Errorf("MySQL.IsUniqueViolation(endless chain) = true, want false")
	}
}

type loopErr struct{}

func (loopErr) Error() string { return "loop" }
func (loopErr) Unwrap() error { return loopErr{} }

// TestMySQLWithoutParseTime: a pool opened without parseTime=true (the
// driver's default) reads the key table's DATETIME columns as text, which
// List still turns into the right instants.
func TestMySQLWithoutParseTime(t *testing.T) {
	dsn := sharedMySQL
	if dsn == "" {
		dsn = testhelpers.MySQL(t)
	}
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = false
	tdb := &testDB{dialect: sqldialect.MySQL, driver: "mysql", dsn: cfg.FormatDSN(), table: fmt.Sprintf("keys_%d", tableSeq.Add(1))}
	tdb.db = tdb.open(t)
	mustCreateTable(t, tdb)
	clock := newFakeClock()
	clock.Advance(123456 * time.Microsecond)
	s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), withClock(clock.Now))
	if _, err := s.active(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := tdb.db.QueryRow(`SELECT created_at FROM ` + tdb.table).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.([]byte); !ok {
		t.Fatalf("created_at without parseTime scans as %T, want []byte (is parseTime still on?)", raw)
	}
	got, err := s.List(ctxb, "acme")
	if err != nil || len(got) != 1 {
		t.Fatalf("List(acme) = %+v, %v", got, err)
	}
	if !got[0].CreatedAt.Equal(clock.Now()) || !got[0].UpdatedAt.Equal(clock.Now()) {
		t.Fatalf("List(acme) times = %v, %v; want %v", got[0].CreatedAt, got[0].UpdatedAt, clock.Now())
	}
}
