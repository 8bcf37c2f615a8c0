package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// keyTableColumns are the key table's columns as keystore.CreateTable
// makes them; MySQL adds active_tenant, the generated column its
// one-active-version index is on.
var keyTableColumns = []string{"tenant_id", "version", "state", "kek_uri", "wrapped_dek", "created_at", "updated_at"}

// oneActiveIndexSuffix names the unique index that allows at most one
// active version per tenant (keystore's activeIndexSuffix): without it
// two racing first seals could each make an active key.
const oneActiveIndexSuffix = "_one_active"

// schemaReader is how doctor reads a dialect's catalog. Each query takes
// the table name as its one parameter, so nothing is quoted into SQL.
type schemaReader struct {
	dialect      string
	versionQuery string
	columnsQuery string // table → column names
	indexesQuery string // table → index names
	// nowQuery is the database's clock in Unix seconds, with a fraction.
	nowQuery string
}

func schemaOf(dialect string) schemaReader {
	switch dialect {
	case "postgres":
		return schemaReader{
			dialect:      dialect,
			versionQuery: `SHOW server_version`,
			columnsQuery: `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
			indexesQuery: `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1`,
			nowQuery:     `SELECT extract(epoch FROM clock_timestamp())::float8`,
		}
	case "mysql":
		return schemaReader{
			dialect:      dialect,
			versionQuery: `SELECT VERSION()`,
			columnsQuery: `SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`,
			indexesQuery: `SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?`,
			nowQuery:     `SELECT CAST(UNIX_TIMESTAMP(NOW(6)) AS DOUBLE)`,
		}
	}
	// SQLite: the database is a file on this host, so its clock is this
	// host's; the check still proves the query path works.
	return schemaReader{
		dialect:      dialect,
		versionQuery: `SELECT sqlite_version()`,
		columnsQuery: `SELECT name FROM pragma_table_info(?)`,
		indexesQuery: `SELECT name FROM pragma_index_list(?)`,
		nowQuery:     `SELECT (julianday('now') - 2440587.5) * 86400.0`,
	}
}

func (s schemaReader) version(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, s.versionQuery).Scan(&v)
	return v, err
}

// names runs a catalog query and returns the names it lists, lower-cased
// (MySQL's catalog keeps the case the DDL was written in).
func (s schemaReader) names(ctx context.Context, db *sql.DB, query, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, strings.ToLower(n))
	}
	return out, rows.Err()
}

// keyTableCheck checks that the key table exists with keystore's columns
// and its one-active-version index. exists is false when there is no
// table at all, so the checks that read it are skipped.
func (s schemaReader) keyTableCheck(ctx context.Context, db *sql.DB, table string) (r checkResult, exists bool) {
	r = checkResult{Check: "key_table", Target: table}
	const fix = "run colcrypt keys init (with the same --key-table)"
	cols, err := s.names(ctx, db, s.columnsQuery, table)
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, "cannot read the catalog: "+cliMessage(err), "check the database user's privileges"
		return r, false
	}
	if len(cols) == 0 {
		r.Status, r.Detail, r.Fix = statusFail, "the key table does not exist", fix
		return r, false
	}
	want := keyTableColumns
	if s.dialect == "mysql" {
		want = append(slices.Clone(want), "active_tenant")
	}
	var missing []string
	for _, c := range want {
		if !slices.Contains(cols, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		r.Status = statusFail
		r.Detail = "missing columns: " + strings.Join(missing, ", ")
		r.Fix = "the table is not colcrypt's key table, or was altered: compare it with keystore.CreateTable's schema"
		return r, true
	}
	idx, err := s.names(ctx, db, s.indexesQuery, table)
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, "cannot read the table's indexes: "+cliMessage(err), "check the database user's privileges"
		return r, true
	}
	if !slices.Contains(idx, table+oneActiveIndexSuffix) {
		r.Status = statusFail
		r.Detail = fmt.Sprintf("index %s%s is missing: two processes could each make an active key for a new tenant", table, oneActiveIndexSuffix)
		r.Fix = fix
		return r, true
	}
	r.Status, r.Detail = statusOK, fmt.Sprintf("%d columns and index %s%s present", len(want), table, oneActiveIndexSuffix)
	return r, true
}

// checkpointTableCheck warns when the migration checkpoint table is
// missing: only migrations need it, and they fail without it.
func (s schemaReader) checkpointTableCheck(ctx context.Context, db *sql.DB, table string) checkResult {
	r := checkResult{Check: "checkpoint_table", Target: table}
	cols, err := s.names(ctx, db, s.columnsQuery, table)
	switch {
	case err != nil:
		r.Status, r.Detail, r.Fix = statusFail, "cannot read the catalog: "+cliMessage(err), "check the database user's privileges"
	case len(cols) == 0:
		r.Status, r.Detail, r.Fix = statusWarn, "the migration checkpoint table does not exist", "run colcrypt keys init (with the same --checkpoint-table) before migrating"
	default:
		r.Status, r.Detail = statusOK, "present"
	}
	return r
}

// quoteIdent quotes a table name that keystore already validated (lower
// case letters, digits, underscores).
func quoteIdent(dialect, name string) string {
	if dialect == "mysql" {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}
