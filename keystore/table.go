package keystore

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// defaultTable is the key table's name unless WithTable says otherwise.
const defaultTable = sqldialect.DefaultKeyTable

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
// (the key table's name + "_events", see [Store.AuditEvents]), and the
// index key table (the key table's name + "_index_keys", the same
// columns, see [Store.RotateIndexKey]) with its own audit trail, if they
// do not exist; run it again after upgrading to add the tables a release
// brings; running it again, or from several processes at once, is
// harmless. It takes New's options, of which it uses two: [WithTable]
// (default "colcrypt_keys") and [WithDialect] (default: detected from
// db's driver).
//
// The table (Postgres; SQLite uses INTEGER, TEXT and BLOB; MySQL byte
// strings and a generated column for the one active version):
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
//
// It also creates the copies table (name + "_wraps": a data key's
// wrapped copies under the keyring's further master keys, see
// WithKeyring) and the schema table (name + "_schema"), recording
// SchemaVersion; see Upgrade for a table created by an older release.
//
// On MySQL and MariaDB tenant_id is VARBINARY(1024), compared byte for
// byte: a character column would compare under a collation that makes
// "Acme" and "acme" (or "acme" and "acme ") one tenant. Run MySQL with a
// strict sql_mode. SQLite needs a busy timeout for concurrent writers.
func CreateTable(ctx context.Context, db *sql.DB, opts ...Option) error {
	d, table, err := tableConfig(db, "CreateTable", opts)
	if err != nil {
		return err
	}
	found, err := schemaVersion(ctx, db, d, table)
	if err != nil {
		return fmt.Errorf("keystore: create table %s: %w", table, err)
	}
	upgrades, err := upgradeStmts(ctx, db, d, table, found)
	if err != nil {
		return err
	}
	stmts := append(d.KeyTableDDL(table), d.EventsDDL(table))
	if err := runDDL(ctx, db, d, table, append(stmts, upgrades...)); err != nil {
		return fmt.Errorf("keystore: create table %s: %w", table, err)
	}
	return nil
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

// rowState is a key's lifecycle state in the key table.
type rowState = string

const (
	// stateActive is the one version per tenant that seals new values.
	stateActive rowState = "active"
	// stateRetired versions open values but seal none.
	stateRetired rowState = "retired"
	// stateDestroyed versions were shredded: their wrapped key is erased.
	stateDestroyed rowState = "destroyed"
)

func parseState(s string) (rowState, bool) {
	switch st := rowState(s); st {
	case stateActive, stateRetired, stateDestroyed:
		return st, true
	}
	return "", false
}

// checkVersion turns a stored version into a uint32, rejecting what the
// table's CHECK should have kept out.
func checkVersion(tenant string, v int64) (uint32, error) {
	if v < 1 || v > 1<<32-1 {
		return 0, corruptRow(tenant, v, "version out of range")
	}
	return uint32(v), nil
}
