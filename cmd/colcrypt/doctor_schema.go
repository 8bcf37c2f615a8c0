package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// schemaReader is how doctor reads a dialect's catalog: the dialect's
// ServerInfo queries, each taking the table name as its one parameter, so
// nothing is quoted into SQL.
type schemaReader struct {
	sqldialect.ServerInfo
	dialect sqldialect.Dialect
}

func schemaOf(d sqldialect.Dialect) schemaReader {
	return schemaReader{ServerInfo: d.ServerInfo(), dialect: d}
}

func (s schemaReader) version(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, s.Version).Scan(&v)
	return v, err
}

// names runs a catalog query and returns the names it lists, lower-cased
// (MySQL's catalog keeps the case the DDL was written in).
func (s schemaReader) names(ctx context.Context, db *sql.DB, query, table string) ([]string, error) {
	out, err := sqldialect.Names(ctx, db, query, table)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	return out, err
}

// keyTableCheck checks that the key table exists with keystore's columns
// and its one-active-version index. exists is false when there is no
// table at all, so the checks that read it are skipped.
func (s schemaReader) keyTableCheck(ctx context.Context, db *sql.DB, table string) (r checkResult, exists bool) {
	r = checkResult{Check: "key_table", Target: table}
	const fix = "run colcrypt keys init (with the same --key-table)"
	cols, err := s.names(ctx, db, s.Columns, table)
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, "cannot read the catalog: "+cliMessage(err), "check the database user's privileges"
		return r, false
	}
	if len(cols) == 0 {
		r.Status, r.Detail, r.Fix = statusFail, "the key table does not exist", fix
		return r, false
	}
	want := sqldialect.KeyTableColumns
	if s.dialect == sqldialect.MySQL {
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
	idx, err := s.names(ctx, db, s.Indexes, table)
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, "cannot read the table's indexes: "+cliMessage(err), "check the database user's privileges"
		return r, true
	}
	if !slices.Contains(idx, table+sqldialect.ActiveIndexSuffix) {
		r.Status = statusFail
		r.Detail = fmt.Sprintf("index %s%s is missing: two processes could each make an active key for a new tenant", table, sqldialect.ActiveIndexSuffix)
		r.Fix = fix
		return r, true
	}
	r.Status, r.Detail = statusOK, fmt.Sprintf("%d columns and index %s%s present", len(want), table, sqldialect.ActiveIndexSuffix)
	return r, true
}

// checkpointTableCheck warns when the migration checkpoint table is
// missing: only migrations need it, and they fail without it.
func (s schemaReader) checkpointTableCheck(ctx context.Context, db *sql.DB, table string) checkResult {
	r := checkResult{Check: "checkpoint_table", Target: table}
	cols, err := s.names(ctx, db, s.Columns, table)
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
