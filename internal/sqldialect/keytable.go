package sqldialect

import (
	"hash/fnv"
	"strconv"
)

// DefaultKeyTable is the key table's name unless configured otherwise.
const DefaultKeyTable = "colcrypt_keys"

// MaxTenantLen bounds a tenant id, in bytes: the key table's tenant_id is
// VARBINARY(1024) on MySQL, which InnoDB can still index.
const MaxTenantLen = 1024

// ActiveIndexSuffix names the unique index that allows at most one active
// version per tenant: colcrypt_keys_one_active for colcrypt_keys.
const ActiveIndexSuffix = "_one_active"

// KeyTableColumns are the key table's columns; MySQL adds active_tenant,
// the generated column its one-active-version index is on.
var KeyTableColumns = []string{"tenant_id", "version", "state", "kek_uri", "wrapped_dek", "created_at", "updated_at"}

// KeyTableDDL returns the statements that create the key table and its
// indexes if they do not exist, to run in order in one transaction after
// DDLLock.
//
// Postgres: timestamptz times, bytea keys and a partial unique index for
// the one active version.
//
// MySQL 5.7+ and MariaDB 10.2+, each choice forced by something the
// server would otherwise get silently wrong:
//
//   - tenant_id is VARBINARY(1024): compared byte for byte, like a Go
//     string. A character column would compare under a collation: a _ci
//     one makes "Acme" and "acme" one tenant, and even utf8mb4_bin pads
//     with spaces, making "acme" and "acme " one tenant. Both would hand
//     one tenant's key to another. VARBINARY also holds 1024 bytes inside
//     InnoDB's 3072-byte key limit, where VARCHAR(1024) utf8mb4 (4 bytes a
//     character) does not fit.
//   - At most one active version per tenant: MySQL has no partial unique
//     index, so a stored generated column active_tenant holds tenant_id on
//     the active row and NULL on every other, under a UNIQUE index (NULLs
//     never collide). The same DDL works on MySQL and MariaDB.
//   - CHECK constraints mirror Postgres's; MySQL 8.0.16+ and MariaDB 10.2+
//     enforce them (MySQL 5.7 parses and ignores them; the unique index
//     above holds everywhere).
//   - ENGINE=InnoDB is named, so a server defaulting to MyISAM (no
//     transactions, no row locks) cannot quietly take the table.
//   - Times are DATETIME(6) in UTC, not TIMESTAMP (session time zone, year
//     2038). Keep the driver's default loc=UTC; parseTime is optional.
//
// Run MySQL with a strict sql_mode (the default since MySQL 5.7 and
// MariaDB 10.2.4): without it the server truncates an oversized value
// with a warning instead of refusing it.
//
// SQLite: fixed-width RFC 3339 text times (see SQLiteTimeLayout) and BLOB
// keys. Open the database with a busy timeout, and preferably WAL, or
// concurrent key creation fails with "database is locked".
func (d Dialect) KeyTableDDL(table string) []string {
	q := d.Quote(table)
	if d == MySQL {
		return []string{`CREATE TABLE IF NOT EXISTS ` + q + ` (
	tenant_id     VARBINARY(1024) NOT NULL,
	version       BIGINT          NOT NULL,
	state         VARCHAR(9) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	kek_uri       TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	wrapped_dek   BLOB,
	created_at    DATETIME(6)     NOT NULL,
	updated_at    DATETIME(6)     NOT NULL,
	active_tenant VARBINARY(1024) GENERATED ALWAYS AS (CASE WHEN state = 'active' THEN tenant_id END) STORED,
	PRIMARY KEY (tenant_id, version),
	UNIQUE KEY ` + d.Quote(table+ActiveIndexSuffix) + ` (active_tenant),
	CONSTRAINT ` + d.Quote(table+"_version") + ` CHECK (version BETWEEN 1 AND 4294967295),
	CONSTRAINT ` + d.Quote(table+"_state") + ` CHECK (CAST(state AS BINARY) IN ('active', 'retired', 'destroyed')),
	CONSTRAINT ` + d.Quote(table+"_wrapped") + ` CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`}
	}
	// Postgres and SQLite: the same table in each one's types.
	text, integer, bytes, stamp := "text       ", "bigint     ", "bytea", "timestamptz"
	if d == SQLite {
		text, integer, bytes, stamp = "TEXT   ", "INTEGER", "BLOB", "TEXT   "
	}
	return []string{`CREATE TABLE IF NOT EXISTS ` + q + ` (
	tenant_id   ` + text + ` NOT NULL,
	version     ` + integer + ` NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
	state       ` + text + ` NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
	kek_uri     ` + text + ` NOT NULL,
	wrapped_dek ` + bytes + `,
	created_at  ` + stamp + ` NOT NULL,
	updated_at  ` + stamp + ` NOT NULL,
	PRIMARY KEY (tenant_id, version),
	CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
)`, d.activeIndexDDL(table)}
}

// activeIndexDDL is the partial unique index of Postgres and SQLite.
func (d Dialect) activeIndexDDL(table string) string {
	return `CREATE UNIQUE INDEX IF NOT EXISTS ` + d.Quote(table+ActiveIndexSuffix) + ` ON ` + d.Quote(table) + ` (tenant_id) WHERE state = 'active'`
}

// DDLLock returns a statement to run first in the transaction that
// creates table, so that two processes creating it at once do not
// collide, or "". On Postgres it is a transaction-scoped advisory lock
// named after the table: two CREATE TABLE IF NOT EXISTS racing there can
// otherwise fail with a duplicate key in the system catalogs. MySQL runs
// a CREATE TABLE under an exclusive metadata lock (a concurrent one finds
// the table and only warns), and SQLite's CREATE statements take the
// database's write lock themselves.
func (d Dialect) DDLLock(table string) string {
	if d != Postgres {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte("colcrypt/keystore/ddl/" + table))
	return `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(int64(h.Sum64()), 10) + `)`
}

// KeyQueries holds every statement keystore runs on its key table, built
// once per table so that no call formats SQL. The comments list each
// statement's arguments (→ its result columns).
type KeyQueries struct {
	SelectActive  string // tenant → version, kek_uri, wrapped_dek
	SelectKey     string // tenant, version → state, kek_uri, wrapped_dek
	Summary       string // tenant → max(version), count(*), count(destroyed)
	InsertActive  string // insert-if-absent of a new active row
	LockTenant    string // tenant
	RetireActive  string // updated_at, tenant
	InsertRotated string // plain insert of a new active row
	LiveVersions  string // tenant → versions, newest first
	TenantRows    string // tenant → version, state, kek_uri, wrapped_dek, newest first
	DestroyOne    string // updated_at, tenant, version: retired → destroyed
	Shred         string // updated_at, tenant
	RewrapPage    string // after tenant, after tenant, after version, limit
	RewrapTenant  string // tenant, after version, limit
	RewrapCAS     string // kek_uri, wrapped_dek, updated_at, tenant, version, old wrapped_dek
	ListAll       string
	ListTenant    string // tenant
	Tenants       string
}

// KeyQueries returns the statements of the key table called table.
//
// InsertActive skips a row that collides with an existing one on
// Postgres and SQLite (ON CONFLICT DO NOTHING, reporting 0 rows). On
// MySQL it is a plain INSERT, whose duplicate-key error the caller takes
// as "another process won" (IsUniqueViolation), so that every other
// failure (CHECK, truncation, missing table) stays an error: INSERT
// IGNORE would turn those into warnings, and INSERT … ON DUPLICATE KEY
// UPDATE takes exclusive locks on the duplicate row, deadlocked about
// three times as often in a 16-process race on MariaDB 10.11, and is
// unsafe for statement-based replication on a table with two unique keys.
//
// LockTenant, run first in a transaction, serializes it against every
// other writer of the tenant's rows until commit. Postgres: SELECT … FOR
// UPDATE of the tenant's rows; in READ COMMITTED a second rotation blocks
// until the first commits, and its next statement sees the first one's
// rows. MySQL: the same locking read, which under InnoDB's REPEATABLE
// READ also locks the gap after the rows and opens no snapshot, so the
// read that follows is the transaction's first consistent read. SQLite: a
// write that changes nothing, which takes SQLite's write lock at once
// (waiting under the busy timeout like BEGIN IMMEDIATE), so the
// transaction never holds a stale read snapshot.
func (d Dialect) KeyQueries(table string) *KeyQueries {
	t := d.Quote(table)
	r := d.Rebind
	suffix := " ON CONFLICT DO NOTHING"
	lock := r(`SELECT version FROM ` + t + ` WHERE tenant_id = ? FOR UPDATE`)
	switch d {
	case MySQL:
		suffix = ""
	case SQLite:
		lock = `UPDATE ` + t + ` SET updated_at = updated_at WHERE tenant_id = ?`
	}
	const cols = ` (tenant_id, version, state, kek_uri, wrapped_dek, created_at, updated_at) VALUES (?, ?, 'active', ?, ?, ?, ?)`
	const live = `state IN ('active', 'retired')`
	const list = `SELECT tenant_id, version, state, kek_uri, created_at, updated_at FROM `
	const rewrap = `SELECT tenant_id, version, kek_uri, wrapped_dek FROM `
	return &KeyQueries{
		SelectActive:  r(`SELECT version, kek_uri, wrapped_dek FROM ` + t + ` WHERE tenant_id = ? AND state = 'active'`),
		SelectKey:     r(`SELECT state, kek_uri, wrapped_dek FROM ` + t + ` WHERE tenant_id = ? AND version = ?`),
		Summary:       r(`SELECT COALESCE(MAX(version), 0), COUNT(*), COALESCE(SUM(CASE WHEN state = 'destroyed' THEN 1 ELSE 0 END), 0) FROM ` + t + ` WHERE tenant_id = ?`),
		InsertActive:  r(`INSERT INTO ` + t + cols + suffix),
		LockTenant:    lock,
		RetireActive:  r(`UPDATE ` + t + ` SET state = 'retired', updated_at = ? WHERE tenant_id = ? AND state = 'active'`),
		InsertRotated: r(`INSERT INTO ` + t + cols),
		LiveVersions:  r(`SELECT version FROM ` + t + ` WHERE tenant_id = ? AND ` + live + ` ORDER BY version DESC`),
		TenantRows:    r(`SELECT version, state, kek_uri, wrapped_dek FROM ` + t + ` WHERE tenant_id = ? ORDER BY version DESC`),
		DestroyOne:    r(`UPDATE ` + t + ` SET state = 'destroyed', wrapped_dek = NULL, updated_at = ? WHERE tenant_id = ? AND version = ? AND state = 'retired'`),
		Shred:         r(`UPDATE ` + t + ` SET state = 'destroyed', wrapped_dek = NULL, updated_at = ? WHERE tenant_id = ? AND state <> 'destroyed'`),
		RewrapPage:    r(rewrap + t + ` WHERE ` + live + ` AND (tenant_id > ? OR (tenant_id = ? AND version > ?)) ORDER BY tenant_id, version LIMIT ?`),
		RewrapTenant:  r(rewrap + t + ` WHERE ` + live + ` AND tenant_id = ? AND version > ? ORDER BY version LIMIT ?`),
		RewrapCAS:     r(`UPDATE ` + t + ` SET kek_uri = ?, wrapped_dek = ?, updated_at = ? WHERE tenant_id = ? AND version = ? AND ` + live + ` AND wrapped_dek = ?`),
		ListAll:       r(list + t + ` ORDER BY tenant_id, version`),
		ListTenant:    r(list + t + ` WHERE tenant_id = ? ORDER BY version`),
		Tenants:       r(`SELECT DISTINCT tenant_id FROM ` + t + ` ORDER BY tenant_id`),
	}
}
