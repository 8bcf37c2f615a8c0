package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// sameIdentKind reports whether two table identities were read the same
// way ("oid:", "innodb:", "created:", "root:"), so that comparing them
// means something: a process without the privilege to read InnoDB's
// table id must not take the table for a new one.
func sameIdentKind(a, b string) bool {
	ka, _, oka := strings.Cut(a, ":")
	kb, _, okb := strings.Cut(b, ":")
	return oka && okb && ka == kb
}

// tableIdent identifies the table behind a name, so that a table dropped
// and created again under the same name is a new job rather than a job
// the checkpoint already records as done:
//
//   - Postgres: the table's OID (pg_class), new for every CREATE TABLE.
//   - MariaDB/MySQL: the InnoDB table id (information_schema
//     INNODB_SYS_TABLES, or INNODB_TABLES on MySQL 8), new for every
//     CREATE TABLE; without the PROCESS privilege to read it, the
//     table's CREATE_TIME (one-second resolution).
//   - SQLite: the table's root page and its CREATE statement. A table
//     recreated with the same statement may get the same root page; the
//     re-check of a finished job (see Run) still finds its plaintext.
//
// The empty string means the engine gave nothing to compare.
func tableIdent(ctx context.Context, d dialect, q querier, table string) (string, error) {
	var ident sql.NullString
	var err error
	schema, name, qualified := strings.Cut(table, ".")
	if !qualified {
		schema, name = "", table
	}
	switch d.Name() {
	case "postgres":
		err = q.QueryRowContext(ctx, `SELECT 'oid:' || to_regclass($1)::oid::text`, quoteTable(d, table)).Scan(&ident)
	case "mysql":
		if schema == "" {
			if err = q.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&ident); err != nil {
				break
			}
			schema = ident.String
		}
		for _, view := range []string{"INNODB_SYS_TABLES", "INNODB_TABLES"} {
			var id sql.NullString
			if q.QueryRowContext(ctx, `SELECT CONCAT('innodb:', TABLE_ID) FROM information_schema.`+view+` WHERE NAME = ?`, schema+"/"+name).Scan(&id) == nil && id.Valid {
				return id.String, nil
			}
		}
		err = q.QueryRowContext(ctx, `SELECT CONCAT('created:', CREATE_TIME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, schema, name).Scan(&ident)
	case "sqlite":
		master := "sqlite_master"
		if schema != "" {
			master = quoteDouble(schema) + ".sqlite_master"
		}
		var root int64
		var stmt sql.NullString
		err = q.QueryRowContext(ctx, `SELECT rootpage, sql FROM `+master+` WHERE type = 'table' AND name = ?`, name).Scan(&root, &stmt)
		sum := sha256.Sum256([]byte(stmt.String))
		ident.String = fmt.Sprintf("root:%d:%x", root, sum[:8])
	default:
		return "", nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %s", errNoTable, table)
	}
	if err != nil {
		return "", fmt.Errorf("migrate: identify table %s: %w", table, err)
	}
	return ident.String, nil
}
