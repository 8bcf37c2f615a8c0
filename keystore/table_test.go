package keystore

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

func TestCreateTableIdempotentAndConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		// The harness created it once; again, and from 4 pools at once.
		mustCreateTable(t, tdb)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			db := tdb.open(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = CreateTable(ctxb, db, WithTable(tdb.table+"_x"))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent CreateTable #%d = %v", i, err)
			}
		}
	})
}

// TestTableConstraints: the schema itself refuses two active versions, a
// live key without bytes, a destroyed key with bytes, unknown states and
// version 0.
func TestTableConstraints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb *testDB) {
		ins := tdb.q(`INSERT INTO {keys} (tenant_id, version, state, kek_uri, wrapped_dek, created_at, updated_at) VALUES (?, ?, ?, 'k', ?, ?, ?)`)
		ts := tdb.dialect.TimeArg(time.Now())
		if _, err := tdb.db.Exec(ins, "acme", 1, "active", []byte{1}, ts, ts); err != nil {
			t.Fatalf("insert a valid row = %v", err)
		}
		for _, tc := range []struct {
			name    string
			version int64
			state   string
			wrapped []byte
			unique  bool
		}{
			{"second active", 2, "active", []byte{1}, true},
			{"same version", 1, "retired", []byte{1}, true},
			{"live without bytes", 2, "retired", nil, false},
			{"destroyed with bytes", 2, "destroyed", []byte{1}, false},
			{"unknown state", 2, "paused", []byte{1}, false},
			{"padded state", 2, "active ", []byte{1}, false},
			{"upper-case state", 2, "Active", []byte{1}, false},
			{"version 0", 0, "retired", []byte{1}, false},
			{"version 2^32", 1 << 32, "retired", []byte{1}, false},
		} {
			_, err := tdb.db.Exec(ins, "acme", tc.version, tc.state, tc.wrapped, ts, ts)
			if err == nil {
				t.Errorf("insert %s = nil error, want a constraint violation", tc.name)
				continue
			}
			if got := tdb.dialect.IsUniqueViolation(err); got != tc.unique {
				t.Errorf("isUniqueViolation(insert %s: %v) = %v, want %v", tc.name, err, got, tc.unique)
			}
		}
		if _, err := tdb.db.Exec(ins, "acme", 2, "destroyed", nil, ts, ts); err != nil {
			t.Errorf("insert a destroyed row = %v", err)
		}
	})
}

func TestCreateTableRejectsBadNames(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"Keys", "a-b", "1abc", "keys; DROP TABLE x", `"keys"`, "schema.keys", "é", strings.Repeat("k", 49)} {
		if err := CreateTable(ctxb, db, WithDialect("sqlite"), WithTable(name)); err == nil || !strings.Contains(err.Error(), "invalid table name") {
			t.Errorf("CreateTable(%q) = %v, want an invalid table name error", name, err)
		}
		if _, err := New(db, newInsecureTestKMS(t).keeper(testKEK), WithTable(name)); err == nil {
			t.Errorf("New(WithTable(%q)) = nil error, want one", name)
		}
	}
	for _, name := range []string{"", "colcrypt_keys", "_k", strings.Repeat("k", 48)} {
		if err := CreateTable(ctxb, db, WithDialect("sqlite"), WithTable(name)); err != nil {
			t.Errorf("CreateTable(%q) = %v", name, err)
		}
	}
}

// TestNewDialect: a driver detection cannot place needs WithDialect, and
// an unknown name fails New and CreateTable. (Detection and naming
// themselves are tested in internal/sqldialect.)
func TestNewDialect(t *testing.T) {
	un := sql.OpenDB(unknownDriver{})
	defer un.Close()
	if _, err := New(un, newInsecureTestKMS(t).keeper(testKEK)); err == nil || !strings.Contains(err.Error(), "WithDialect") {
		t.Errorf("New(unknown driver) = %v, want an error naming WithDialect", err)
	}
	if err := CreateTable(ctxb, un); err == nil || !strings.Contains(err.Error(), "WithDialect") {
		t.Errorf("CreateTable(unknown driver) = %v, want an error naming WithDialect", err)
	}
	// WithoutUpgrade: New then does no I/O, which this driver cannot.
	if s, err := New(un, newInsecureTestKMS(t).keeper(testKEK), WithDialect("PostgreSQL"), WithoutUpgrade()); err != nil || fmt.Sprint(s) != "keystore.Store(table=colcrypt_keys, dialect=postgres, kek="+testKEK+")" {
		t.Errorf(`New(unknown driver, WithDialect("PostgreSQL")) = %v, %v`, s, err)
	} else {
		s.Close()
	}
	sq, err := sql.Open("sqlite", "file:"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	if _, err := New(sq, newInsecureTestKMS(t).keeper(testKEK), WithDialect("oracle")); err == nil {
		t.Errorf(`New(WithDialect("oracle")) = nil error`)
	}
	if err := CreateTable(ctxb, sq, WithDialect("oracle")); err == nil {
		t.Errorf(`CreateTable(WithDialect("oracle")) = nil error`)
	}
}

func TestTimeCol(t *testing.T) {
	want := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, src := range []any{
		want, want.In(time.FixedZone("x", 3600)),
		sqldialect.SQLite.TimeArg(want), []byte(sqldialect.SQLite.TimeArg(want).(string)),
		"2030-01-02T04:04:05.123456789+01:00", "2030-01-02 03:04:05.123456789+00:00", "2030-01-02 03:04:05.123456789",
	} {
		var got time.Time
		if err := (timeCol{&got}).Scan(src); err != nil || !got.Equal(want) {
			t.Errorf("timeCol.Scan(%#v) = %v, %v; want %v", src, got, err, want)
		}
	}
	for _, src := range []any{"yesterday", strings.Repeat("9", 100), 3.5} {
		var got time.Time
		if err := (timeCol{&got}).Scan(src); err == nil {
			t.Errorf("timeCol.Scan(%#v) = nil error", src)
		}
	}
}

func TestNewOptionErrors(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kek := newInsecureTestKMS(t).keeper(testKEK)
	for name, o := range map[string]Option{
		// A zero field keeps the default; a negative one is refused.
		"ttl < 0":      WithTuning(Tuning{CacheTTL: -1}),
		"size < 0":     WithTuning(Tuning{CacheMaxKeys: -1}),
		"bytes < 0":    WithTuning(Tuning{CacheMaxBytes: -1}),
		"grace < 0":    WithTuning(Tuning{StaleGrace: -1}),
		"attempts < 0": WithTuning(Tuning{KMSAttempts: -1, KMSRetryBase: time.Millisecond, KMSRetryMax: time.Second}),
		"base > max":   WithTuning(Tuning{KMSAttempts: 3, KMSRetryBase: time.Second, KMSRetryMax: time.Millisecond}),
		"kms timeout":  WithTuning(Tuning{KMSTimeout: -1}),
		"bad table":    WithTable("A"),
		"bad dialect":  WithDialect("oracle"),
	} {
		if _, err := New(db, kek, o); err == nil {
			t.Errorf("New(%s) = nil error, want one", name)
		}
	}
	// Zero fields leave the defaults, which New accepts.
	if s, err := New(db, kek, WithTuning(Tuning{})); err != nil {
		t.Errorf("New(WithTuning(Tuning{})) = %v, want the defaults", err)
	} else {
		s.Close()
	}
	if _, err := New(nil, kek); err == nil {
		t.Errorf("New(nil db) = nil error")
	}
	if _, err := New(db, nil); err == nil {
		t.Errorf("New(nil keeper) = nil error")
	}
}
