package keystore

import (
	"errors"
	"strings"
	"time"
)

// SQLite is the dialect of SQLite (modernc.org/sqlite, mattn/go-sqlite3 and
// others). Times are stored as fixed-width RFC 3339 text in UTC, readable
// in the sqlite3 shell and sortable as text; keys are BLOBs.
//
// SQLite has one writer at a time. Open the database with a busy timeout
// (modernc: "?_pragma=busy_timeout(5000)"), and preferably WAL
// ("&_pragma=journal_mode(WAL)"), or concurrent key creation fails with
// "database is locked". An in-memory database needs a shared cache or
// db.SetMaxOpenConns(1): otherwise every pooled connection sees its own
// empty database.
var SQLite Dialect = sqlite{}

type sqlite struct{}

func (sqlite) Name() string { return "sqlite" }

func (sqlite) ddl(table string) []string {
	q := quoteDouble(table)
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + q + ` (
	tenant_id   TEXT    NOT NULL,
	version     INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
	state       TEXT    NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
	kek_uri     TEXT    NOT NULL,
	wrapped_dek BLOB,
	created_at  TEXT    NOT NULL,
	updated_at  TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, version),
	CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + quoteDouble(table+activeIndexSuffix) + ` ON ` + q + ` (tenant_id) WHERE state = 'active'`,
	}
}

// ddlLock is empty: SQLite's CREATE statements take the database's write
// lock themselves.
func (sqlite) ddlLock(string) string { return "" }

func (sqlite) rebind(q string) string         { return q }
func (sqlite) quote(ident string) string      { return quoteDouble(ident) }
func (sqlite) insertIgnore() (string, string) { return "INSERT INTO", " ON CONFLICT DO NOTHING" }

// lockTenant is a write that changes nothing. A transaction whose first
// statement writes takes SQLite's write lock at once, waiting under the
// busy timeout like BEGIN IMMEDIATE, so it can never hold a stale read
// snapshot that a later write would have to abandon.
func (sqlite) lockTenant(table string) string {
	return `UPDATE ` + quoteDouble(table) + ` SET updated_at = updated_at WHERE tenant_id = ?`
}

// isUniqueViolation knows modernc's and mattn's error shapes: an extended
// result code of SQLITE_CONSTRAINT_PRIMARYKEY (1555) or _UNIQUE (2067),
// falling back on SQLite's own message text.
func (sqlite) isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var c interface{ Code() int }
	if errors.As(err, &c) {
		switch c.Code() {
		case 1555, 2067:
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "PRIMARY KEY constraint failed")
}

// isSerializationFailure is always false: SQLite has one writer at a
// time, and a writer that must wait does so under the busy timeout.
func (sqlite) isSerializationFailure(error) bool { return false }

// sqliteTimeLayout is RFC 3339 with fixed nanoseconds, always in UTC, so
// stored times compare correctly as text.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000000Z"

func (sqlite) timeArg(t time.Time) any { return t.UTC().Format(sqliteTimeLayout) }

func (sqlite) matchDriver(pkg string) bool { return strings.Contains(strings.ToLower(pkg), "sqlite") }
