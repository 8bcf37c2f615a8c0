package migrate

import (
	"context"
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
	ident, err := d.sql().TableIdent(ctx, q, table)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %s", errNoTable, table)
	}
	if err != nil {
		return "", fmt.Errorf("migrate: identify table %s: %w", table, err)
	}
	return ident, nil
}
