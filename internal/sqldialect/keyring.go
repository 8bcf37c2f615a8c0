package sqldialect

// SchemaVersion is the version of colcrypt's own tables that this release
// creates and upgrades to:
//
//  1. the key table and its audit trail (no schema table: a database
//     without one is at version 1);
//  2. the copies table (key table + WrapsSuffix), holding a data key's
//     wrapped copies under further master keys, and the schema table
//     (key table + SchemaSuffix) recording the version;
//  3. the tenant master key table (key table + TenantKEKSuffix): the
//     master key a tenant owns, which wraps its data keys alone.
//  4. the legacy index table (key table + LegacyIndexSuffix): the tenants,
//     and their data key versions, whose blind indexes a release before
//     index keys may have taken under the data key; and the tenant master
//     key table's proof column (TenantKEKProofDDL), which authenticates an
//     assignment.
//
// Every upgrade is additive (new tables, and once a new nullable column of
// a table of colcrypt's own, never a changed one), so a release that knows
// an older version keeps working on a newer schema.
const SchemaVersion = 4

// WrapsSuffix names the copies table of a key table: colcrypt_keys_wraps.
const WrapsSuffix = "_wraps"

// SchemaSuffix names the schema table of a key table: colcrypt_keys_schema.
const SchemaSuffix = "_schema"

// TenantKEKSuffix names the tenant master key table of a key table:
// colcrypt_keys_tenant_keks.
const TenantKEKSuffix = "_tenant_keks"

// TenantKEKTable names the tenant master key table of a key table.
func TenantKEKTable(keyTable string) string { return keyTable + TenantKEKSuffix }

// WrapsTable names the copies table of a key table.
func WrapsTable(keyTable string) string { return keyTable + WrapsSuffix }

// SchemaTable names the schema table of a key table.
func SchemaTable(keyTable string) string { return keyTable + SchemaSuffix }

// MaxKEKNameLen bounds the name of a master key that holds a copy in the
// copies table, in bytes: its kek_uri is part of the primary key, and on
// MySQL VARBINARY(1024), which with tenant_id's 1024 bytes stays inside
// InnoDB's 3072-byte key limit.
const MaxKEKNameLen = 1024

// UpgradeDDL returns the statements that bring the key table's schema from
// version 1 to SchemaVersion, to run in order after DDLLock(keyTable):
// CREATE TABLE IF NOT EXISTS only, so they never rewrite or lock the key
// table and running them again does nothing.
//
// The copies table holds every wrapped copy of a data key except the one
// in the key row itself, one row per (tenant, version, master key). The
// key row keeps its columns and its copy, so a release that knows only
// version 1 still reads every key. No foreign key: a copy is deleted in
// the same transaction that destroys its key row, and a foreign key's
// locking would add nothing to that but lock waits.
//
// The schema table holds one row (id = 1) with the version. The tenant
// master key table holds one row per tenant that owns its master key.
func (d Dialect) UpgradeDDL(keyTable string) []string {
	w, sch, tk := d.Quote(WrapsTable(keyTable)), d.Quote(SchemaTable(keyTable)), d.Quote(TenantKEKTable(keyTable))
	switch d {
	case MySQL:
		return []string{`CREATE TABLE IF NOT EXISTS ` + w + ` (
	tenant_id   VARBINARY(1024) NOT NULL,
	version     BIGINT          NOT NULL,
	kek_uri     VARBINARY(1024) NOT NULL,
	wrapped_dek BLOB            NOT NULL,
	created_at  DATETIME(6)     NOT NULL,
	PRIMARY KEY (tenant_id, version, kek_uri)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
			`CREATE TABLE IF NOT EXISTS ` + tk + ` (
	tenant_id  VARBINARY(1024) NOT NULL PRIMARY KEY,
	kek_uri    TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	updated_at DATETIME(6)     NOT NULL,
	proof      BLOB
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
			`CREATE TABLE IF NOT EXISTS ` + sch + ` (
	id      INT    NOT NULL PRIMARY KEY,
	version BIGINT NOT NULL
) ENGINE=InnoDB`}
	}
	// Postgres and SQLite: the same tables in each one's types, as the
	// key table's (KeyTableDDL).
	text, integer, bytes, stamp, id := "text       ", "bigint     ", "bytea      ", "timestamptz", "integer"
	if d == SQLite {
		text, integer, bytes, stamp, id = "TEXT   ", "INTEGER", "BLOB   ", "TEXT   ", "INTEGER"
	}
	return []string{`CREATE TABLE IF NOT EXISTS ` + w + ` (
	tenant_id   ` + text + ` NOT NULL,
	version     ` + integer + ` NOT NULL,
	kek_uri     ` + text + ` NOT NULL,
	wrapped_dek ` + bytes + ` NOT NULL,
	created_at  ` + stamp + ` NOT NULL,
	PRIMARY KEY (tenant_id, version, kek_uri)
)`, `CREATE TABLE IF NOT EXISTS ` + tk + ` (
	tenant_id  ` + text + ` NOT NULL PRIMARY KEY,
	kek_uri    ` + text + ` NOT NULL,
	updated_at ` + stamp + ` NOT NULL,
	proof      ` + bytes + `
)`, `CREATE TABLE IF NOT EXISTS ` + sch + ` (
	id      ` + id + ` NOT NULL PRIMARY KEY,
	version ` + integer + ` NOT NULL
)`}
}

// TenantKEKProofDDL adds the proof column to a tenant master key table
// made at schema version 3, which had none. Tables made since have it.
func (d Dialect) TenantKEKProofDDL(keyTable string) string {
	typ := "bytea"
	if d != Postgres {
		typ = "BLOB"
	}
	return `ALTER TABLE ` + d.Quote(TenantKEKTable(keyTable)) + ` ADD COLUMN proof ` + typ
}

// RingQueries are the statements on the copies and schema tables, built
// once per key table. The comments list each statement's arguments (→ its
// result columns).
type RingQueries struct {
	SchemaVersion string // → version
	SchemaInsert  string // version: insert-if-absent of row 1 (MySQL: plain insert)
	SchemaBump    string // version, version: raise row 1 to version
	// Copies reads a key row and its copies in one query: one result row
	// per copy, or one with NULL copy columns if there is none.
	Copies        string // tenant, version → state, kek_uri, wrapped_dek, copy kek_uri, copy wrapped_dek
	WrapsOf       string // tenant, version → kek_uri, wrapped_dek
	InsertWrap    string // tenant, version, kek_uri, wrapped_dek, created_at (MySQL: plain insert)
	DeleteWrap    string // tenant, version, kek_uri
	DeleteVersion string // tenant, version: every copy of one version
	DeleteTenant  string // tenant: every copy of every version
	// PurgeOrphans deletes every copy whose key row is missing or
	// destroyed: what an older release's Shred or DestroyVersion, which
	// knows nothing of copies, left behind.
	PurgeOrphans string
	ListAll      string // → tenant, version, kek_uri
	ListTenant   string // tenant → version, kek_uri
	TenantKEK    string // tenant → kek_uri, proof
	ClearKEK     string // tenant
	SetKEK       string // tenant, kek_uri, proof, updated_at (after ClearKEK)
}

// RingQueries returns the statements of the copies and schema tables of
// the key table keyTable.
func (d Dialect) RingQueries(keyTable string) *RingQueries {
	k, w, sch, tk := d.Quote(keyTable), d.Quote(WrapsTable(keyTable)), d.Quote(SchemaTable(keyTable)), d.Quote(TenantKEKTable(keyTable))
	r := d.Rebind
	suffix := " ON CONFLICT DO NOTHING"
	if d == MySQL {
		suffix = ""
	}
	const live = `state IN ('active', 'retired')`
	return &RingQueries{
		SchemaVersion: `SELECT version FROM ` + sch + ` WHERE id = 1`,
		SchemaInsert:  r(`INSERT INTO ` + sch + ` (id, version) VALUES (1, ?)` + suffix),
		SchemaBump:    r(`UPDATE ` + sch + ` SET version = ? WHERE id = 1 AND version < ?`),
		Copies: r(`SELECT k.state, k.kek_uri, k.wrapped_dek, w.kek_uri, w.wrapped_dek FROM ` + k + ` k LEFT JOIN ` + w +
			` w ON w.tenant_id = k.tenant_id AND w.version = k.version WHERE k.tenant_id = ? AND k.version = ?`),
		WrapsOf:       r(`SELECT kek_uri, wrapped_dek FROM ` + w + ` WHERE tenant_id = ? AND version = ?`),
		InsertWrap:    r(`INSERT INTO ` + w + ` (tenant_id, version, kek_uri, wrapped_dek, created_at) VALUES (?, ?, ?, ?, ?)` + suffix),
		DeleteWrap:    r(`DELETE FROM ` + w + ` WHERE tenant_id = ? AND version = ? AND kek_uri = ?`),
		DeleteVersion: r(`DELETE FROM ` + w + ` WHERE tenant_id = ? AND version = ?`),
		DeleteTenant:  r(`DELETE FROM ` + w + ` WHERE tenant_id = ?`),
		PurgeOrphans: `DELETE FROM ` + w + ` WHERE NOT EXISTS (SELECT 1 FROM ` + k + ` k WHERE k.tenant_id = ` + w +
			`.tenant_id AND k.version = ` + w + `.version AND k.` + live + `)`,
		ListAll:    `SELECT tenant_id, version, kek_uri FROM ` + w + ` ORDER BY tenant_id, version, kek_uri`,
		ListTenant: r(`SELECT version, kek_uri FROM ` + w + ` WHERE tenant_id = ? ORDER BY version, kek_uri`),
		TenantKEK:  r(`SELECT kek_uri, proof FROM ` + tk + ` WHERE tenant_id = ?`),
		ClearKEK:   r(`DELETE FROM ` + tk + ` WHERE tenant_id = ?`),
		SetKEK:     r(`INSERT INTO ` + tk + ` (tenant_id, kek_uri, proof, updated_at) VALUES (?, ?, ?, ?)`),
	}
}
