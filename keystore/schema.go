package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// SchemaVersion is the version of colcrypt's own tables this release
// creates (CreateTable) and upgrades to (Upgrade): 2 adds the copies
// table, which holds each data key's wrapped copies under the keyring's
// further master keys, the schema table that records the version, and
// the index key family's tables (the index key table, its audit trail and
// its copies table); 3 the tenant master key table (SetTenantMasterKey);
// 4 the legacy index table, which the upgrade to it fills with the tenants
// already in the key table (see Store.LegacyIndexCiphers), and the proof
// column of the tenant master key table.
// A database without a schema table is at version 1.
const SchemaVersion = sqldialect.SchemaVersion

// upgradeTimeout bounds the upgrade New runs, which has no caller
// context: a read of the schema version, and DDL only when it is old.
const upgradeTimeout = 30 * time.Second

// WithoutUpgrade stops New from upgrading the key table's schema: New
// then does no I/O at all. Use it where the application's database user
// may not create tables, and run Upgrade (`colcrypt keys upgrade`) with
// one that may before the Store is used: on a table at an older version
// every cold key load fails, since the copies table is missing.
func WithoutUpgrade() Option { return func(c *config) { c.noUpgrade = true } }

// Upgrade brings the schema of the key table (WithTable, default
// "colcrypt_keys") up to SchemaVersion, if it is not there yet, and
// returns the version it found. It takes New's options, of which it uses
// WithTable and WithDialect. New runs it unless WithoutUpgrade.
//
// The upgrade is online: it only creates tables that do not exist (the
// copies, tenant master key and schema tables), so it neither rewrites nor locks the key
// table, and processes of an older release keep reading and writing keys
// while it runs and after. It is idempotent and safe to run from several
// processes at once (on Postgres under an advisory lock; MySQL and SQLite
// serialize CREATE TABLE themselves).
//
// An older release ignores the copies table: its Shred and DestroyVersion
// leave the copies of what they destroy behind, which AddMasterKey and
// RemoveMasterKey delete. Upgrade keys in every process before relying on
// shredding.
func Upgrade(ctx context.Context, db *sql.DB, opts ...Option) (found int, err error) {
	d, table, err := tableConfig(db, "Upgrade", opts)
	if err != nil {
		return 0, err
	}
	return upgrade(ctx, db, d, table)
}

// CurrentSchema returns the schema version of the key table (WithTable,
// WithDialect): 1 for a table created before versions were recorded,
// SchemaVersion or above once upgraded.
func CurrentSchema(ctx context.Context, db *sql.DB, opts ...Option) (int, error) {
	d, table, err := tableConfig(db, "CurrentSchema", opts)
	if err != nil {
		return 0, err
	}
	return schemaVersion(ctx, db, d, table)
}

// tableConfig resolves the table name and dialect of CreateTable's kind
// of call.
func tableConfig(db *sql.DB, fn string, opts []Option) (sqldialect.Dialect, string, error) {
	if db == nil {
		return 0, "", fmt.Errorf("keystore: %s: nil *sql.DB", fn)
	}
	cfg := config{table: defaultTable}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.table == "" {
		cfg.table = defaultTable
	}
	if err := validTable(cfg.table); err != nil {
		return 0, "", err
	}
	if err := cfg.resolveDialect(db); err != nil {
		return 0, "", err
	}
	if cfg.dialectErr != nil {
		return 0, "", cfg.dialectErr
	}
	return cfg.dialect, cfg.table, nil
}

// schemaVersion reads the recorded version: 1 when the schema table is
// missing or empty. A read that fails because the table is missing is
// told from one that fails otherwise by the catalog; a table that another
// process created in between is read again.
func schemaVersion(ctx context.Context, q querier, d sqldialect.Dialect, table string) (int, error) {
	var err error
	for range 2 {
		var v int64
		err = q.QueryRowContext(ctx, d.RingQueries(table).SchemaVersion).Scan(&v)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return 1, nil
		case err == nil:
			return int(v), nil
		}
		exists, eerr := d.TableExists(ctx, q, sqldialect.SchemaTable(table))
		if eerr != nil {
			break
		}
		if !exists {
			return 1, nil
		}
	}
	return 0, fmt.Errorf("keystore: read schema version of %s: %w", table, err)
}

// upgrade runs the upgrade when the recorded version is below
// SchemaVersion, and returns the version it found.
func upgrade(ctx context.Context, db *sql.DB, d sqldialect.Dialect, table string) (int, error) {
	found, err := schemaVersion(ctx, db, d, table)
	if err != nil {
		return 0, err
	}
	if found >= SchemaVersion {
		return found, nil
	}
	stmts, err := upgradeStmts(ctx, db, d, table, found)
	if err != nil {
		return found, err
	}
	if err := runDDL(ctx, db, d, table, stmts); err != nil {
		return found, fmt.Errorf("keystore: upgrade %s to schema version %d: %w", table, SchemaVersion, err)
	}
	return found, nil
}

// upgradeDDL is what brings the key table called table from schema
// version 1 to SchemaVersion: the copies and schema tables
// (sqldialect.UpgradeDDL), and the index key family's tables
// (indexkeys.go), each created only if it does not exist. The family's
// tables have the key table's own shape, copies table included, so the
// family's Store (which runs no upgrade of its own) finds them all.
func upgradeDDL(d sqldialect.Dialect, table string) []string {
	stmts := append(d.UpgradeDDL(table), d.LegacyIndexDDL(table))
	if it, ok := indexTable(table); ok {
		stmts = append(stmts, d.KeyTableDDL(it)...)
		stmts = append(stmts, d.EventsDDL(it))
		stmts = append(stmts, d.UpgradeDDL(it)...)
	}
	return stmts
}

// legacyIndexSchema is the schema version that brought the legacy index
// table (legacyindex.go).
const legacyIndexSchema = 4

// upgradeStmts is upgradeDDL, and, for a key table that exists at a
// version from before the legacy index table, the statement that records
// in it every tenant the table holds with its newest version: keys a
// release before index keys may have taken blind indexes under. A key
// table made at legacyIndexSchema or later starts with none.
func upgradeStmts(ctx context.Context, db *sql.DB, d sqldialect.Dialect, table string, found int) ([]string, error) {
	stmts := upgradeDDL(d, table)
	if found >= legacyIndexSchema {
		return stmts, nil
	}
	if err := addProofColumns(ctx, db, d, table); err != nil {
		return nil, fmt.Errorf("keystore: upgrade %s: %w", table, err)
	}
	exists, err := d.TableExists(ctx, db, table)
	if err != nil {
		return nil, fmt.Errorf("keystore: upgrade %s: %w", table, err)
	}
	if exists {
		stmts = append(stmts, d.LegacyIndexQueries(table).Mark)
	}
	return stmts, nil
}

// addProofColumns gives the tenant master key tables of a key table made
// at schema version 3 (its own, and its index key family's) the proof
// column that authenticates an assignment (tenantkek.go). Tables made since
// have it, and those the upgrade is about to make get it from their DDL.
// It runs before the upgrade's transaction records the version, so a
// version-4 table always has the column; a process that loses the race
// to add it finds it there.
func addProofColumns(ctx context.Context, db *sql.DB, d sqldialect.Dialect, table string) error {
	tables := []string{table}
	if it, ok := indexTable(table); ok {
		tables = append(tables, it)
	}
	for _, t := range tables {
		tk := sqldialect.TenantKEKTable(t)
		exists, err := d.TableExists(ctx, db, tk)
		if err != nil {
			return err
		}
		if !exists || d.HasColumn(ctx, db, tk, "proof") {
			continue
		}
		if _, err := db.ExecContext(ctx, d.TenantKEKProofDDL(t)); err != nil && !d.HasColumn(ctx, db, tk, "proof") {
			return err
		}
	}
	return nil
}

// runDDL runs stmts in one transaction after the table's DDL lock, then
// records SchemaVersion (insert-if-absent, then raise), so that the
// version is recorded only once every table it promises exists.
func runDDL(ctx context.Context, db *sql.DB, d sqldialect.Dialect, table string, stmts []string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if l := d.DDLLock(table); l != "" {
		stmts = append([]string{l}, stmts...)
	}
	for _, s := range stmts {
		if _, err = tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	if err = recordVersion(ctx, tx, d, table); err != nil {
		return err
	}
	return tx.Commit()
}

// recordVersion sets the schema table's row to SchemaVersion unless it
// records a newer one.
func recordVersion(ctx context.Context, tx *sql.Tx, d sqldialect.Dialect, table string) error {
	rq := d.RingQueries(table)
	if _, err := tx.ExecContext(ctx, rq.SchemaInsert, SchemaVersion); err != nil && !d.IsUniqueViolation(err) {
		return err
	}
	_, err := tx.ExecContext(ctx, rq.SchemaBump, SchemaVersion, SchemaVersion)
	return err
}

// openSchema is New's step: the upgrade, unless WithoutUpgrade.
func openSchema(db *sql.DB, cfg *config) error {
	if cfg.noUpgrade || cfg.indexFamily {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), upgradeTimeout)
	defer cancel()
	_, err := upgrade(ctx, db, cfg.dialect, cfg.table)
	return err
}
