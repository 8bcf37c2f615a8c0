package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	gomysql "github.com/go-sql-driver/mysql"
)

// dialectMySQL is the dialect of MySQL 8.0+ and MariaDB 10.6+ through
// github.com/go-sql-driver/mysql (driver "mysql"); both versions are the
// first with SELECT … FOR UPDATE SKIP LOCKED, which chunk claiming needs.
// Its choices, each forced by something the server would otherwise get
// wrong:
//
//   - Batches run at READ COMMITTED: InnoDB's default REPEATABLE READ
//     takes gap locks on every row a locking read scans, which would make
//     workers block each other on the checkpoint table and the
//     application's inserts block on the batch.
//   - The compare-and-set locks the batch's rows (SELECT … FOR UPDATE),
//     compares them with what was read byte for byte in Go and writes the
//     ones that still match. An UPDATE … WHERE col <=> old would compare
//     under the column's collation (a _ci collation matches "A" to "a",
//     PAD SPACE matches "a" to "a "), and its affected-row count is 0 for
//     a row set to the value it already holds, so neither can tell a lost
//     race from a won one.
//   - Key values travel as text or bytes and are cast back to the key
//     column's type (CAST(? AS SIGNED), CONVERT(? USING cs) COLLATE c, …)
//     so that a bigint key is never compared as a double and a text key
//     orders under its own collation, as ORDER BY does.
//   - The checkpoint header's insert is a plain INSERT whose duplicate-key
//     error (1062) means another process recorded the job first; INSERT
//     IGNORE would also turn a too-long value into a warning.
//   - Deadlocks (1213) and lock wait timeouts (1205) roll the batch back
//     and run it again.
//
// Run with a strict sql_mode (the default since MySQL 5.7 and MariaDB
// 10.2.4) and, where binary logging is on, binlog_format ROW or MIXED (the
// defaults): InnoDB refuses READ COMMITTED writes under STATEMENT.
// parseTime is optional.
var dialectMySQL dialect = mysqlDialect{}

type mysqlDialect struct{}

var _ dialect = mysqlDialect{}

func (mysqlDialect) Name() string          { return "mysql" }
func (mysqlDialect) quote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
func (mysqlDialect) ph(int) string         { return "?" }

// MySQL error numbers the dialect acts on.
const (
	myErDupEntry        = 1062
	myErLockWaitTimeout = 1205
	myErLockDeadlock    = 1213
)

func (mysqlDialect) retryable(err error) bool {
	var me *gomysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	return me.Number == myErLockDeadlock || me.Number == myErLockWaitTimeout
}

func (mysqlDialect) duplicate(err error) bool {
	var me *gomysql.MySQLError
	return errors.As(err, &me) && me.Number == myErDupEntry
}

func (mysqlDialect) onConflictDoNothing() string { return "" }

func (mysqlDialect) timeArg(t time.Time) any { return t.UTC() }

// mysqlSchema splits "db.table"; without a database the connection's
// current one is meant (nil binds as NULL, and COALESCE picks DATABASE()).
func mysqlSchema(table string) (schema any, name string) {
	if s, n, ok := strings.Cut(table, "."); ok {
		return s, n
	}
	return nil, table
}

func mysqlClass(dataType string) class {
	switch strings.ToLower(dataType) {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return classText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return classBytes
	}
	return classOther
}

func (d mysqlDialect) describe(ctx context.Context, q querier, table string) (*tableInfo, error) {
	schema, name := mysqlSchema(table)
	rows, err := q.QueryContext(ctx, `
SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, '')
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	defer rows.Close()
	ti := &tableInfo{Name: table, Columns: map[string]column{}}
	for rows.Next() {
		var c column
		var dataType string
		if err := rows.Scan(&c.Name, &c.Type, &dataType, &c.charset, &c.collation); err != nil {
			return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
		}
		c.class = mysqlClass(dataType)
		c.dataType = strings.ToLower(dataType)
		ti.Columns[c.Name] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	if len(ti.Columns) == 0 {
		return nil, fmt.Errorf("%w: %s", errNoTable, table)
	}
	pks, err := d.indexColumns(ctx, q, schema, name, "PRIMARY")
	if err != nil {
		return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	if len(pks) == 1 {
		c := ti.Columns[pks[0]]
		ti.PK = &c
	}
	return ti, nil
}

func (mysqlDialect) indexColumns(ctx context.Context, q querier, schema any, name, index string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = ?
ORDER BY SEQ_IN_INDEX`, schema, name, index)
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

// uniqueColumn looks for a unique index on exactly col, over the whole
// value (a prefix index, SUB_PART set, is unique only on the prefix).
func (d mysqlDialect) uniqueColumn(ctx context.Context, q querier, ti *tableInfo, col string) (bool, error) {
	schema, name := mysqlSchema(ti.Name)
	var n int
	err := q.QueryRowContext(ctx, `
SELECT count(*) FROM (
  SELECT INDEX_NAME FROM information_schema.STATISTICS
  WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0
  GROUP BY INDEX_NAME
  HAVING count(*) = 1 AND max(COLUMN_NAME) = ? AND max(SUB_PART) IS NULL) u`, schema, name, col).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("migrate: describe %s: %w", ti.Name, err)
	}
	return n > 0, nil
}

func (mysqlDialect) begin(ctx context.Context, db *sql.DB) (txn, error) {
	return db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
}

// keyCast turns a bind parameter holding a key's text or bytes into the
// key column's type.
func (mysqlDialect) keyCast(c column, expr string) string {
	t := strings.ToLower(c.Type)
	switch c.dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if strings.Contains(t, "unsigned") {
			return "CAST(" + expr + " AS UNSIGNED)"
		}
		return "CAST(" + expr + " AS SIGNED)"
	case "decimal", "numeric":
		if i := strings.IndexByte(t, ' '); i >= 0 {
			t = t[:i]
		}
		return "CAST(" + expr + " AS " + t + ")"
	case "date":
		return "CAST(" + expr + " AS DATE)"
	case "datetime", "timestamp":
		return "CAST(" + expr + " AS DATETIME(6))"
	case "time":
		return "CAST(" + expr + " AS TIME(6))"
	case "float", "double", "real":
		return "CAST(" + expr + " AS DOUBLE)"
	}
	if c.class == classText && c.charset != "" && c.collation != "" && safeIdent(c.charset) && safeIdent(c.collation) {
		return "CONVERT(" + expr + " USING " + c.charset + ") COLLATE " + c.collation
	}
	return expr
}

// safeIdent reports whether s is a plain charset or collation name, fit
// to splice into SQL.
func safeIdent(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// colExpr is a column as a batch reads it: columns that are neither text
// nor binary (and the tenant) in their text form, so every driver mode
// (text or binary protocol, parseTime or not) yields the same bytes.
func (d mysqlDialect) colExpr(c column, asText bool) string {
	e := "t." + d.quote(c.Name)
	if asText && c.class == classOther {
		return "CAST(" + e + " AS CHAR)"
	}
	return e
}

// pkExpr is the key as a batch reads it: temporal and decimal keys as
// text, which keyCast parses back; integers, text and bytes as they are.
func (d mysqlDialect) pkExpr(p *plan) string {
	switch p.pk.dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return "t." + d.quote(p.pk.Name)
	}
	return d.colExpr(p.pk, true)
}

func (d mysqlDialect) selectList(p *plan) string {
	return d.pkExpr(p) + d.columnList(p)
}

// columnList is the part of a batch read's SELECT list after the key: the
// plan's readCols and bind column, each after a comma.
func (d mysqlDialect) columnList(p *plan) string {
	var b strings.Builder
	src, dst, tenant, bidx := p.readCols()
	for _, c := range []*column{src, dst, tenant, bidx, p.bind} {
		if c == nil {
			continue
		}
		b.WriteString(", " + d.colExpr(*c, true))
	}
	return b.String()
}

func (d mysqlDialect) selectRows(p *plan, hasLo, hasHi bool) string {
	return d.selectRowsOf(p, d.selectList(p), hasLo, hasHi)
}

// selectRowsOf is selectRows with the SELECT list given.
func (d mysqlDialect) selectRowsOf(p *plan, list string, hasLo, hasHi bool) string {
	var where []string
	pk := "t." + d.quote(p.pk.Name)
	if hasLo {
		where = append(where, pk+" > "+d.keyCast(p.pk, "?"))
	}
	if hasHi {
		where = append(where, pk+" <= "+d.keyCast(p.pk, "?"))
	}
	q := "SELECT " + list + " FROM " + p.table + " AS t"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY " + pk + " LIMIT ?"
}

func (d mysqlDialect) inPK(p *plan, n int) string {
	phs := make([]string, n)
	for i := range phs {
		phs[i] = d.keyCast(p.pk, "?")
	}
	return "t." + d.quote(p.pk.Name) + " IN (" + strings.Join(phs, ", ") + ")"
}

func (d mysqlDialect) selectByPK(p *plan, pks []any) (string, []any) {
	return "SELECT " + d.selectList(p) + " FROM " + p.table + " AS t WHERE " + d.inPK(p, len(pks)), pks
}

func (mysqlDialect) scanPK() any { return new(any) }

// pkValue keeps a key as the driver returned it (int64 for integers,
// bytes for the rest), copied; its report text is the bytes as text when
// they are UTF-8, else hex.
func (mysqlDialect) pkValue(dst any) (any, string) {
	switch k := (*dst.(*any)).(type) {
	case []byte:
		b := bytes.Clone(k)
		if b == nil {
			b = []byte{}
		}
		if utf8.Valid(b) {
			return b, string(b)
		}
		return b, fmt.Sprintf("%x", b)
	case string:
		return k, k
	case nil:
		return nil, ""
	default:
		return k, fmt.Sprint(k)
	}
}

// pkKey is a map key for a key value read by pkValue.
func pkKey(v any) string {
	if b, ok := v.([]byte); ok {
		return "b" + string(b)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// write locks the batch's rows, keeps the writes whose rows still hold
// what was read (compared byte for byte) and updates those, one prepared
// UPDATE per row. The rows stay locked until the batch commits, so the
// updates cannot lose a race.
func (d mysqlDialect) write(ctx context.Context, tx txn, p *plan, ws []write) ([]bool, error) {
	pks := make([]any, len(ws))
	for i := range ws {
		pks[i] = ws[i].r.pk
	}
	cols := d.pkExpr(p) + ", " + d.colExpr(p.src, true)
	if !p.inPlace {
		cols += ", " + d.colExpr(p.dst, true)
	}
	rs, err := tx.QueryContext(ctx, "SELECT "+cols+" FROM "+p.table+" AS t WHERE "+d.inPK(p, len(pks))+" FOR UPDATE", pks...)
	if err != nil {
		return nil, fmt.Errorf("migrate: lock %s: %w", p.ti.Name, err)
	}
	type current struct{ src, dst cell }
	now := make(map[string]current, len(ws))
	for rs.Next() {
		var c current
		pk := d.scanPK()
		dest := []any{pk, &c.src}
		if !p.inPlace {
			dest = append(dest, &c.dst)
		}
		if err := rs.Scan(dest...); err != nil {
			rs.Close()
			return nil, fmt.Errorf("migrate: lock %s: %w", p.ti.Name, err)
		}
		v, _ := d.pkValue(pk)
		now[pkKey(v)] = c
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("migrate: lock %s: %w", p.ti.Name, err)
	}

	set := "t." + d.quote(p.dst.Name) + " = ?"
	if p.bidx != nil {
		set += ", t." + d.quote(p.bidx.Name) + " = ?"
	}
	st, err := prepare(ctx, tx, "UPDATE "+p.table+" AS t SET "+set+" WHERE t."+d.quote(p.pk.Name)+" = "+d.keyCast(p.pk, "?"))
	if err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	defer st.Close()
	applied := make([]bool, len(ws))
	for i, w := range ws {
		c, ok := now[pkKey(w.r.pk)]
		if !ok || !sameCell(c.src, w.r.src) || (!p.inPlace && !sameCell(c.dst, w.r.dst)) {
			continue
		}
		var val any = w.val
		if p.dstText {
			val = string(w.val)
		} else if w.val == nil {
			val = []byte{} // nil would be bound as NULL
		}
		args := []any{val}
		if p.bidx != nil {
			var bidx any
			if w.bidx != nil {
				bidx = w.bidx
			}
			args = append(args, bidx)
		}
		args = append(args, w.r.pk)
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
		applied[i] = true
	}
	return applied, nil
}

// prepare prepares q on the transaction.
func prepare(ctx context.Context, tx txn, q string) (*sql.Stmt, error) {
	p, ok := tx.(interface {
		PrepareContext(context.Context, string) (*sql.Stmt, error)
	})
	if !ok {
		return nil, errors.New("migrate: transaction cannot prepare statements")
	}
	return p.PrepareContext(ctx, q)
}

// sameCell reports whether two reads of a column hold the same value.
func sameCell(a, b cell) bool {
	return a.valid == b.valid && bytes.Equal(a.b, b.b)
}

func (d mysqlDialect) estimate(ctx context.Context, q querier, p *plan) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+p.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("migrate: count %s: %w", p.ti.Name, err)
	}
	return n, nil
}

// boundaries numbers the keys in one pass over the primary key index
// (MySQL has no TABLESAMPLE) and keeps every step-th.
func (d mysqlDialect) boundaries(ctx context.Context, q querier, p *plan, total int64, n int) ([]any, error) {
	if n <= 1 || total <= 0 {
		return nil, nil
	}
	pk := "t." + d.quote(p.pk.Name)
	step := (total + int64(n) - 1) / int64(n)
	rows, err := q.QueryContext(ctx, "SELECT k FROM (SELECT "+d.pkExpr(p)+" AS k, row_number() OVER (ORDER BY "+pk+") AS rn FROM "+
		p.table+" AS t) s WHERE rn % ? = 0 ORDER BY rn LIMIT ?", step, n-1)
	if err != nil {
		return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
	}
	defer rows.Close()
	var out []any
	for rows.Next() {
		k := d.scanPK()
		if err := rows.Scan(k); err != nil {
			return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
		}
		v, _ := d.pkValue(k)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
	}
	return out, nil
}

// checkpointDDL stores keys as VARBINARY (any key's text or bytes, read
// back as bytes and cast by keyCast) and job ids under a binary
// collation, so two ids differing in case are two jobs.
func (d mysqlDialect) checkpointDDL(table string) []string {
	return []string{`CREATE TABLE IF NOT EXISTS ` + quoteTable(d, table) + ` (
	job_id      VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	chunk       INT          NOT NULL,
	kind        VARCHAR(32)  NOT NULL DEFAULT '',
	table_name  VARCHAR(255) NOT NULL DEFAULT '',
	column_name VARCHAR(255) NOT NULL DEFAULT '',
	spec        MEDIUMTEXT   NOT NULL DEFAULT (''),
	lo          VARBINARY(3072),
	hi          VARBINARY(3072),
	last_pk     VARBINARY(3072),
	state       VARCHAR(16)  NOT NULL,
	total       BIGINT       NOT NULL DEFAULT 0,
	scanned     BIGINT       NOT NULL DEFAULT 0,
	updated     BIGINT       NOT NULL DEFAULT 0,
	skipped     BIGINT       NOT NULL DEFAULT 0,
	nulls       BIGINT       NOT NULL DEFAULT 0,
	failed      BIGINT       NOT NULL DEFAULT 0,
	conflicts   BIGINT       NOT NULL DEFAULT 0,
	failures    MEDIUMTEXT   NOT NULL DEFAULT (''),
	updated_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	PRIMARY KEY (job_id, chunk)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`}
}

func (d mysqlDialect) claimChunk(table string) string {
	return `SELECT chunk, lo, hi, last_pk, failures FROM ` + quoteTable(d, table) +
		` WHERE job_id = ? AND chunk > 0 AND state = 'pending' ORDER BY chunk LIMIT 1 FOR UPDATE SKIP LOCKED`
}
