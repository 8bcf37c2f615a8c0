package sqldialect

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strings"
)

// Querier is what catalog reads need: *sql.DB, *sql.Tx and *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// The storage classes of a column, as a migration treats its values.
const (
	ClassText  = 't' // a character type: values are text
	ClassBytes = 'b' // a binary type: values are bytes
	ClassOther = 'o' // anything else: read and compared in its text form
)

// Column is one column as the catalog describes it.
type Column struct {
	Name string
	// Type is the declared type as the database spells it in DDL
	// (format_type on Postgres, COLUMN_TYPE on MySQL).
	Type  string
	Class byte
	// DataType, Charset and Collation are MySQL's DATA_TYPE (lower case),
	// CHARACTER_SET_NAME and COLLATION_NAME.
	DataType, Charset, Collation string
}

// splitTable splits "schema.table"; schema is "" when the name has none.
func splitTable(table string) (schema, name string) {
	if s, n, ok := strings.Cut(table, "."); ok {
		return s, n
	}
	return "", table
}

// mysqlSchema is the schema argument of a MySQL catalog query: NULL for
// the connection's current database (COALESCE(?, DATABASE())).
func mysqlSchema(schema string) any {
	if schema == "" {
		return nil
	}
	return schema
}

// sqliteSchema is the schema argument of a SQLite pragma function.
func sqliteSchema(schema string) string {
	if schema == "" {
		return "main"
	}
	return schema
}

// Describe reads table's columns and the columns of its primary key, in
// key order. A table that does not exist has no columns (on Postgres:
// exists is false).
func (d Dialect) Describe(ctx context.Context, q Querier, table string) (cols []Column, pk []string, exists bool, err error) {
	schema, name := splitTable(table)
	var rows *sql.Rows
	switch d {
	case Postgres:
		qt := d.QuoteTable(table)
		if err = q.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, qt).Scan(&exists); err != nil || !exists {
			return nil, nil, false, err
		}
		rows, err = q.QueryContext(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       CASE WHEN bt.typname = 'bytea' THEN 'b' WHEN bt.typcategory = 'S' THEN 't' ELSE 'o' END
FROM pg_attribute a
JOIN pg_type ty ON ty.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, qt)
	case MySQL:
		rows, err = q.QueryContext(ctx, `
SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, '')
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, mysqlSchema(schema), name)
	case SQLite:
		rows, err = q.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?1, ?2)`, name, sqliteSchema(schema))
	}
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	var sqlitePK []string
	for rows.Next() {
		var c Column
		switch d {
		case Postgres:
			var cls string
			err = rows.Scan(&c.Name, &c.Type, &cls)
			c.Class = cls[0]
		case MySQL:
			err = rows.Scan(&c.Name, &c.Type, &c.DataType, &c.Charset, &c.Collation)
			c.DataType = strings.ToLower(c.DataType)
			c.Class = mysqlClass(c.DataType)
		case SQLite:
			var n int
			err = rows.Scan(&c.Name, &c.Type, &n)
			c.Class = sqliteClass(c.Type)
			if n > 0 {
				sqlitePK = append(sqlitePK, c.Name)
			}
		}
		if err != nil {
			return nil, nil, false, err
		}
		cols = append(cols, c)
	}
	if err = rows.Err(); err != nil {
		return nil, nil, false, err
	}
	rows.Close()
	exists = len(cols) > 0 || d == Postgres
	switch d {
	case Postgres:
		pk, err = Names(ctx, q, `
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, d.QuoteTable(table))
	case MySQL:
		if exists {
			pk, err = Names(ctx, q, `
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'
ORDER BY SEQ_IN_INDEX`, mysqlSchema(schema), name)
		}
	case SQLite:
		pk = sqlitePK
	}
	return cols, pk, exists, err
}

// Names runs a query whose rows are one string each and returns them.
func Names(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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
		out = append(out, n)
	}
	return out, rows.Err()
}

func mysqlClass(dataType string) byte {
	switch dataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return ClassText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return ClassBytes
	}
	return ClassOther
}

// sqliteClass applies SQLite's column affinity rules to a declared type.
func sqliteClass(declared string) byte {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return ClassOther
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return ClassText
	case strings.Contains(t, "BLOB"), t == "":
		return ClassBytes
	}
	return ClassOther
}

// UniqueColumn reports whether col of table holds unique values: a
// primary key or a single-column unique index over the whole value (not
// partial, not on an expression, not a MySQL prefix index), which keyset
// pagination needs.
func (d Dialect) UniqueColumn(ctx context.Context, q Querier, table, col string) (bool, error) {
	schema, name := splitTable(table)
	switch d {
	case Postgres:
		var ok bool
		err := q.QueryRowContext(ctx, `
SELECT EXISTS (
  SELECT 1 FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
  WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1
    AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = $2)`, d.QuoteTable(table), col).Scan(&ok)
		return ok, err
	case MySQL:
		var n int
		err := q.QueryRowContext(ctx, `
SELECT count(*) FROM (
  SELECT INDEX_NAME FROM information_schema.STATISTICS
  WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0
  GROUP BY INDEX_NAME
  HAVING count(*) = 1 AND max(COLUMN_NAME) = ? AND max(SUB_PART) IS NULL) u`, mysqlSchema(schema), name, col).Scan(&n)
		return n > 0, err
	}
	idx, err := Names(ctx, q, `SELECT name FROM pragma_index_list(?1, ?2) WHERE "unique" = 1 AND partial = 0`, name, sqliteSchema(schema))
	if err != nil {
		return false, err
	}
	for _, n := range idx {
		var cols int
		var first sql.NullString
		if err := q.QueryRowContext(ctx, `SELECT count(*), max(name) FROM pragma_index_info(?1, ?2)`, n, sqliteSchema(schema)).Scan(&cols, &first); err != nil {
			return false, err
		}
		if cols == 1 && first.String == col {
			return true, nil
		}
	}
	return false, nil
}

// RowEstimate returns the planner's estimate of table's rows on Postgres
// (pg_class.reltuples: -1 before the first ANALYZE, stale after a bulk
// load), or -1 where the dialect keeps none worth reading.
func (d Dialect) RowEstimate(ctx context.Context, q Querier, table string) (float64, error) {
	if d != Postgres {
		return -1, nil
	}
	var est float64
	err := q.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&est)
	if err == sql.ErrNoRows {
		return -1, nil
	}
	return est, err
}

// ColumnLimits reads col of table's declared length (of a varchar, char,
// varbinary or binary column, in characters, bytes for binary types; 0
// is unbounded: TEXT and BLOB types are not limited here, their limits
// are far above any value worth encrypting, and SQLite enforces no
// declared length), its NOT NULL and whether it has a DEFAULT.
func (d Dialect) ColumnLimits(ctx context.Context, q Querier, table, col string) (maxLen int64, notNull, hasDefault bool, err error) {
	schema, name := splitTable(table)
	switch d {
	case Postgres:
		err = q.QueryRowContext(ctx, `
SELECT CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END,
       a.attnotnull, a.atthasdef
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`, d.QuoteTable(table), col).Scan(&maxLen, &notNull, &hasDefault)
	case MySQL:
		err = q.QueryRowContext(ctx, `
SELECT CASE WHEN DATA_TYPE IN ('varchar', 'char', 'varbinary', 'binary') THEN CHARACTER_MAXIMUM_LENGTH ELSE 0 END,
       IS_NULLABLE = 'NO', COLUMN_DEFAULT IS NOT NULL
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?`, mysqlSchema(schema), name, col).Scan(&maxLen, &notNull, &hasDefault)
	case SQLite:
		info, args := "pragma_table_info(?)", []any{name, col}
		if schema != "" {
			info, args = "pragma_table_info(?, ?)", []any{name, schema, col}
		}
		err = q.QueryRowContext(ctx, `SELECT "notnull" <> 0, dflt_value IS NOT NULL FROM `+info+` WHERE name = ?`, args...).Scan(&notNull, &hasDefault)
	}
	return maxLen, notNull, hasDefault, err
}

// UpdateTriggers counts the triggers that fire on UPDATE of table.
func (d Dialect) UpdateTriggers(ctx context.Context, q Querier, table string) (n int, err error) {
	schema, name := splitTable(table)
	switch d {
	case Postgres:
		// tgtype bit 4 (16) is UPDATE.
		err = q.QueryRowContext(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal AND (tgtype & 16) <> 0`, d.QuoteTable(table)).Scan(&n)
	case MySQL:
		err = q.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = COALESCE(?, DATABASE()) AND EVENT_OBJECT_TABLE = ? AND EVENT_MANIPULATION = 'UPDATE'`, mysqlSchema(schema), name).Scan(&n)
	case SQLite:
		err = q.QueryRowContext(ctx, `SELECT count(*) FROM `+d.sqliteMaster(schema)+` WHERE type = 'trigger' AND tbl_name = ? AND upper(sql) LIKE '%UPDATE%'`, name).Scan(&n)
	}
	return n, err
}

func (d Dialect) sqliteMaster(schema string) string {
	if schema == "" {
		return "sqlite_master"
	}
	return d.Quote(schema) + ".sqlite_master"
}

// TableIdent identifies the table behind a name, so that a table dropped
// and created again under the same name can be told from the one before:
//
//   - Postgres: the table's OID (pg_class), new for every CREATE TABLE.
//   - MariaDB/MySQL: the InnoDB table id (information_schema
//     INNODB_SYS_TABLES, or INNODB_TABLES on MySQL 8), new for every
//     CREATE TABLE; without the PROCESS privilege to read it, the
//     table's CREATE_TIME (one-second resolution).
//   - SQLite: the table's root page and its CREATE statement. A table
//     recreated with the same statement may get the same root page.
//
// The identity starts with its kind ("oid:", "innodb:", "created:",
// "root:"). A table that does not exist is sql.ErrNoRows.
func (d Dialect) TableIdent(ctx context.Context, q Querier, table string) (string, error) {
	var ident sql.NullString
	var err error
	schema, name := splitTable(table)
	switch d {
	case Postgres:
		err = q.QueryRowContext(ctx, `SELECT 'oid:' || to_regclass($1)::oid::text`, d.QuoteTable(table)).Scan(&ident)
	case MySQL:
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
	case SQLite:
		var root int64
		var stmt sql.NullString
		err = q.QueryRowContext(ctx, `SELECT rootpage, sql FROM `+d.sqliteMaster(schema)+` WHERE type = 'table' AND name = ?`, name).Scan(&root, &stmt)
		sum := sha256.Sum256([]byte(stmt.String))
		ident.String = fmt.Sprintf("root:%d:%x", root, sum[:8])
	default:
		return "", nil
	}
	return ident.String, err
}

// HasColumn reports whether table has a column called name. It selects
// the column by name, not "*": a driver's cached statement for "SELECT *"
// would not survive the table gaining a column (pgx: "cached plan must
// not change result type"). SQLite reads an unknown double-quoted
// identifier as a string literal, so there it asks pragma_table_info.
func (d Dialect) HasColumn(ctx context.Context, q Querier, table, name string) bool {
	if d == SQLite {
		info, args := "pragma_table_info(?)", []any{table, name}
		if schema, t, ok := strings.Cut(table, "."); ok {
			info, args = "pragma_table_info(?, ?)", []any{t, schema, name}
		}
		var n int
		return q.QueryRowContext(ctx, "SELECT count(*) FROM "+info+" WHERE name = ?", args...).Scan(&n) == nil && n > 0
	}
	rows, err := q.QueryContext(ctx, "SELECT "+d.Quote(name)+" FROM "+d.QuoteTable(table)+" WHERE 1 = 0")
	if err != nil {
		return false
	}
	rows.Close()
	return true
}

// ServerInfo holds the catalog reads of `colcrypt doctor`. Each query
// that takes a table takes its name as its one parameter, so nothing is
// quoted into SQL.
type ServerInfo struct {
	Version string // → the server's version
	Columns string // table → column names
	Indexes string // table → index names
	// Now is the database's clock in Unix seconds, with a fraction. On
	// SQLite the database is a file on this host, so its clock is this
	// host's; the query still proves the query path works.
	Now string
}

// ServerInfo returns the dialect's doctor queries.
func (d Dialect) ServerInfo() ServerInfo {
	switch d {
	case Postgres:
		return ServerInfo{
			Version: `SHOW server_version`,
			Columns: `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
			Indexes: `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1`,
			Now:     `SELECT extract(epoch FROM clock_timestamp())::float8`,
		}
	case MySQL:
		return ServerInfo{
			Version: `SELECT VERSION()`,
			Columns: `SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`,
			Indexes: `SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?`,
			Now:     `SELECT CAST(UNIX_TIMESTAMP(NOW(6)) AS DOUBLE)`,
		}
	}
	return ServerInfo{
		Version: `SELECT sqlite_version()`,
		Columns: `SELECT name FROM pragma_table_info(?)`,
		Indexes: `SELECT name FROM pragma_index_list(?)`,
		Now:     `SELECT (julianday('now') - 2440587.5) * 86400.0`,
	}
}

// TableExists asks the catalog whether a table called name exists (in
// the search path on Postgres, the current database on MySQL), so that a
// failed read of a table can be told from a missing one.
func (d Dialect) TableExists(ctx context.Context, q Querier, name string) (bool, error) {
	var query string
	switch d {
	case Postgres:
		query = `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = $1 AND schemaname = ANY (current_schemas(false))`
	case MySQL:
		query = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`
	default:
		query = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	var n int
	if err := q.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
