package keystore

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"time"
)

// DefaultTable is the key table's name unless WithTable says otherwise.
const DefaultTable = "colcrypt_keys"

// activeIndexSuffix names the partial unique index that allows at most
// one active version per tenant.
const activeIndexSuffix = "_one_active"

// tableNameRE accepts lower-case unquoted SQL identifiers short enough
// that the index name derived from them stays within Postgres's 63-byte
// limit. Lower case only: the name is quoted in every statement, and a
// quoted mixed-case name would not match the same name typed unquoted in
// psql, which folds it to lower case.
var tableNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

func validTable(name string) error {
	if !tableNameRE.MatchString(name) {
		return fmt.Errorf("keystore: invalid table name %q: want %s", name, tableNameRE)
	}
	return nil
}

// CreateTable creates the key table, its index and its audit trail table
// (table+EventsSuffix, see [Store.AuditEvents]) if they do not exist;
// running it again, or from several processes at once, is harmless. An
// empty table means DefaultTable; a nil d is detected with DialectFor.
//
// The table (Postgres; SQLite uses INTEGER, TEXT and BLOB; MySQL byte
// strings and a generated column for the one active version, see [MySQL]):
//
//	tenant_id   text        NOT NULL
//	version     bigint      NOT NULL  1 ≤ version ≤ 2^32-1
//	state       text        NOT NULL  'active' | 'retired' | 'destroyed'
//	kek_uri     text        NOT NULL  the master key that wrapped the DEK
//	wrapped_dek bytea                 NULL exactly when destroyed
//	created_at  timestamptz NOT NULL
//	updated_at  timestamptz NOT NULL
//	PRIMARY KEY (tenant_id, version)
//	UNIQUE (tenant_id) WHERE state = 'active'
func CreateTable(ctx context.Context, db *sql.DB, d Dialect, table string) (err error) {
	if db == nil {
		return fmt.Errorf("keystore: CreateTable: nil *sql.DB")
	}
	if table == "" {
		table = DefaultTable
	}
	if err := validTable(table); err != nil {
		return err
	}
	if d == nil {
		if d, err = DialectFor(db); err != nil {
			return err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keystore: create table %s: %w", table, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	stmts := append(d.ddl(table), eventsDDL(d, table))
	if l := d.ddlLock(table); l != "" {
		stmts = append([]string{l}, stmts...)
	}
	for _, s := range stmts {
		if _, err = tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("keystore: create table %s: %w", table, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("keystore: create table %s: %w", table, err)
	}
	return nil
}

// queries holds every statement a Store runs, built once for its table
// and dialect so no call formats SQL.
type queries struct {
	selectActive  string // tenant → version, kek_uri, wrapped_dek
	selectKey     string // tenant, version → state, kek_uri, wrapped_dek
	summary       string // tenant → max(version), count(*), count(destroyed)
	insertActive  string // insert-if-absent of a new active row
	lockTenant    string // tenant
	retireActive  string // updated_at, tenant
	insertRotated string // plain insert of a new active row
	liveVersions  string // tenant → versions, newest first
	tenantRows    string // tenant → version, state, kek_uri, wrapped_dek, newest first
	destroyOne    string // updated_at, tenant, version: retired → destroyed
	shred         string // updated_at, tenant
	rewrapPage    string // after tenant, after tenant, after version, limit
	rewrapTenant  string // tenant, after version, limit
	rewrapCAS     string // kek_uri, wrapped_dek, updated_at, tenant, version, old wrapped_dek
	listAll       string
	listTenant    string // tenant
	tenants       string
}

func newQueries(d Dialect, table string) *queries {
	t := d.quote(table)
	r := d.rebind
	pre, suf := d.insertIgnore()
	const cols = ` (tenant_id, version, state, kek_uri, wrapped_dek, created_at, updated_at) VALUES (?, ?, 'active', ?, ?, ?, ?)`
	const live = `state IN ('active', 'retired')`
	return &queries{
		selectActive:  r(`SELECT version, kek_uri, wrapped_dek FROM ` + t + ` WHERE tenant_id = ? AND state = 'active'`),
		selectKey:     r(`SELECT state, kek_uri, wrapped_dek FROM ` + t + ` WHERE tenant_id = ? AND version = ?`),
		summary:       r(`SELECT COALESCE(MAX(version), 0), COUNT(*), COALESCE(SUM(CASE WHEN state = 'destroyed' THEN 1 ELSE 0 END), 0) FROM ` + t + ` WHERE tenant_id = ?`),
		insertActive:  r(pre + ` ` + t + cols + suf),
		lockTenant:    d.lockTenant(table),
		retireActive:  r(`UPDATE ` + t + ` SET state = 'retired', updated_at = ? WHERE tenant_id = ? AND state = 'active'`),
		insertRotated: r(`INSERT INTO ` + t + cols),
		liveVersions:  r(`SELECT version FROM ` + t + ` WHERE tenant_id = ? AND ` + live + ` ORDER BY version DESC`),
		tenantRows:    r(`SELECT version, state, kek_uri, wrapped_dek FROM ` + t + ` WHERE tenant_id = ? ORDER BY version DESC`),
		destroyOne:    r(`UPDATE ` + t + ` SET state = 'destroyed', wrapped_dek = NULL, updated_at = ? WHERE tenant_id = ? AND version = ? AND state = 'retired'`),
		shred:         r(`UPDATE ` + t + ` SET state = 'destroyed', wrapped_dek = NULL, updated_at = ? WHERE tenant_id = ? AND state <> 'destroyed'`),
		rewrapPage: r(`SELECT tenant_id, version, kek_uri, wrapped_dek FROM ` + t + ` WHERE ` + live +
			` AND (tenant_id > ? OR (tenant_id = ? AND version > ?)) ORDER BY tenant_id, version LIMIT ?`),
		rewrapTenant: r(`SELECT tenant_id, version, kek_uri, wrapped_dek FROM ` + t + ` WHERE ` + live +
			` AND tenant_id = ? AND version > ? ORDER BY version LIMIT ?`),
		rewrapCAS: r(`UPDATE ` + t + ` SET kek_uri = ?, wrapped_dek = ?, updated_at = ? WHERE tenant_id = ? AND version = ? AND ` +
			live + ` AND wrapped_dek = ?`),
		listAll:    r(`SELECT tenant_id, version, state, kek_uri, created_at, updated_at FROM ` + t + ` ORDER BY tenant_id, version`),
		listTenant: r(`SELECT tenant_id, version, state, kek_uri, created_at, updated_at FROM ` + t + ` WHERE tenant_id = ? ORDER BY version`),
		tenants:    r(`SELECT DISTINCT tenant_id FROM ` + t + ` ORDER BY tenant_id`),
	}
}

// timeCol scans a timestamp column whatever the driver hands back:
// time.Time (Postgres, or SQLite drivers that parse), RFC 3339 text in a
// string or []byte (SQLite), or Unix seconds.
type timeCol struct{ t *time.Time }

var sqliteReadLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*c.t = v
		return nil
	case int64:
		*c.t = time.Unix(v, 0).UTC()
		return nil
	case []byte:
		return c.parse(string(v))
	case string:
		return c.parse(v)
	case nil:
		*c.t = time.Time{}
		return nil
	}
	return fmt.Errorf("keystore: cannot scan %T as a time", src)
}

func (c timeCol) parse(s string) error {
	if len(s) > 64 {
		return fmt.Errorf("keystore: time text too long")
	}
	for _, l := range sqliteReadLayouts {
		if t, err := time.Parse(l, s); err == nil {
			*c.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("keystore: cannot parse time %q", s)
}

// State is a key's lifecycle state in the key table.
type State string

const (
	// StateActive is the one version per tenant that seals new values.
	StateActive State = "active"
	// StateRetired versions open values but seal none.
	StateRetired State = "retired"
	// StateDestroyed versions were shredded: their wrapped key is erased.
	StateDestroyed State = "destroyed"
)

func parseState(s string) (State, bool) {
	switch st := State(s); st {
	case StateActive, StateRetired, StateDestroyed:
		return st, true
	}
	return "", false
}

// checkVersion turns a stored version into a uint32, rejecting what the
// table's CHECK should have kept out.
func checkVersion(tenant string, v int64) (uint32, error) {
	if v < 1 || v > 1<<32-1 {
		return 0, &CorruptRowError{Tenant: tenant, Version: v, Reason: "version out of range"}
	}
	return uint32(v), nil
}
