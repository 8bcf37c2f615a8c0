package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialectSQLite is the SQLite dialect (modernc.org/sqlite, driver "sqlite", or
// any driver with SQLite 3.35 or later).
//
// SQLite has one writer at a time, so a batch runs in BEGIN IMMEDIATE:
// the read, the compare-and-set writes and the checkpoint are one
// transaction no other writer can come between. Workers in several
// processes still work (they queue on the database lock, with a busy
// timeout); they add no speed.
var dialectSQLite dialect = sqlite{}

type sqlite struct{}

func (sqlite) Name() string          { return "sqlite" }
func (sqlite) quote(s string) string { return quoteDouble(s) }
func (sqlite) ph(i int) string       { return "?" + strconv.Itoa(i) }

// sqliteTimeLayout is fixed-width RFC 3339 in UTC: readable in the sqlite3
// shell, and max() of it is the latest time.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000000Z"

// retryable matches SQLITE_BUSY and SQLITE_LOCKED (primary result codes
// 5 and 6) through the Code method of modernc's and mattn's errors.
func (sqlite) retryable(err error) bool {
	var ce interface{ Code() int }
	if !errors.As(err, &ce) {
		return false
	}
	code := ce.Code() & 0xff
	return code == 5 || code == 6
}

func (sqlite) timeArg(t time.Time) any { return t.UTC().Format(sqliteTimeLayout) }

// sqliteClass applies SQLite's column affinity rules to a declared type.
func sqliteClass(declared string) class {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "INT"):
		return classOther
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return classText
	case strings.Contains(t, "BLOB"), t == "":
		return classBytes
	}
	return classOther
}

func splitSchema(table string) (schema, name string) {
	if s, n, ok := strings.Cut(table, "."); ok {
		return s, n
	}
	return "main", table
}

func (d sqlite) describe(ctx context.Context, q querier, table string) (*tableInfo, error) {
	schema, name := splitSchema(table)
	rows, err := q.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?1, ?2)`, name, schema)
	if err != nil {
		return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	defer rows.Close()
	ti := &tableInfo{Name: table, Columns: map[string]column{}}
	var pks []string
	for rows.Next() {
		var c column
		var pk int
		if err := rows.Scan(&c.Name, &c.Type, &pk); err != nil {
			return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
		}
		c.class = sqliteClass(c.Type)
		ti.Columns[c.Name] = c
		if pk > 0 {
			pks = append(pks, c.Name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	if len(ti.Columns) == 0 {
		return nil, fmt.Errorf("%w: %s", errNoTable, table)
	}
	if len(pks) == 1 {
		c := ti.Columns[pks[0]]
		ti.PK = &c
	}
	return ti, nil
}

func (d sqlite) uniqueColumn(ctx context.Context, q querier, ti *tableInfo, col string) (bool, error) {
	schema, name := splitSchema(ti.Name)
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_index_list(?1, ?2) WHERE "unique" = 1 AND partial = 0`, name, schema)
	if err != nil {
		return false, fmt.Errorf("migrate: describe %s: %w", ti.Name, err)
	}
	var idx []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return false, fmt.Errorf("migrate: describe %s: %w", ti.Name, err)
		}
		idx = append(idx, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("migrate: describe %s: %w", ti.Name, err)
	}
	for _, n := range idx {
		var cols int
		var first sql.NullString
		if err := q.QueryRowContext(ctx, `SELECT count(*), max(name) FROM pragma_index_info(?1, ?2)`, n, schema).Scan(&cols, &first); err != nil {
			return false, fmt.Errorf("migrate: describe %s: %w", ti.Name, err)
		}
		if cols == 1 && first.String == col {
			return true, nil
		}
	}
	return false, nil
}

// sqliteTx is a transaction on one connection, begun with BEGIN
// IMMEDIATE: database/sql's BeginTx issues a deferred BEGIN, which lets
// two writers read and then deadlock on the upgrade to a write lock.
type sqliteTx struct {
	*sql.Conn
	done bool
}

var _ txn = (*sqliteTx)(nil)

func (sqlite) begin(ctx context.Context, db *sql.DB) (txn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		c.Close()
		return nil, err
	}
	return &sqliteTx{Conn: c}, nil
}

func (t *sqliteTx) Commit() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	defer t.Conn.Close()
	if _, err := t.Conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		t.Conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}

func (t *sqliteTx) Rollback() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	defer t.Conn.Close()
	_, err := t.Conn.ExecContext(context.Background(), "ROLLBACK")
	return err
}

func (d sqlite) selectList(p *plan) string {
	return d.quote(p.pk.Name) + d.columnList(p)
}

// columnList is the part of a batch read's SELECT list after the key: the
// plan's readCols and bind column, each after a comma.
func (d sqlite) columnList(p *plan) string {
	var b strings.Builder
	src, dst, tenant, bidx := p.readCols()
	for _, c := range []*column{src, dst, tenant, bidx, p.bind} {
		if c != nil {
			b.WriteString(", " + d.quote(c.Name))
		}
	}
	return b.String()
}

func (d sqlite) selectRows(p *plan, hasLo, hasHi bool) string {
	return d.selectRowsOf(p, d.selectList(p), hasLo, hasHi)
}

// selectRowsOf is selectRows with the SELECT list given.
func (d sqlite) selectRowsOf(p *plan, list string, hasLo, hasHi bool) string {
	var where []string
	n := 1
	pk := d.quote(p.pk.Name)
	if hasLo {
		where = append(where, pk+" > "+d.ph(n))
		n++
	}
	if hasHi {
		where = append(where, pk+" <= "+d.ph(n))
		n++
	}
	q := "SELECT " + list + " FROM " + p.table
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY " + pk + " LIMIT " + d.ph(n)
}

func (d sqlite) selectByPK(p *plan, pks []any) (string, []any) {
	phs := make([]string, len(pks))
	for i := range pks {
		phs[i] = d.ph(i + 1)
	}
	return "SELECT " + d.selectList(p) + " FROM " + p.table + " WHERE " + d.quote(p.pk.Name) +
		" IN (" + strings.Join(phs, ", ") + ")", pks
}

func (sqlite) scanPK() any { return new(any) }

func (sqlite) pkValue(dst any) (any, string) {
	v := *dst.(*any)
	switch k := v.(type) {
	case []byte:
		return k, fmt.Sprintf("%x", k)
	case string:
		return k, k
	}
	return v, fmt.Sprint(v)
}

// write runs one prepared compare-and-set UPDATE per row. Inside BEGIN
// IMMEDIATE no other writer can have changed a row since it was read, so
// the condition is a second line of defence here, not the first.
func (d sqlite) write(ctx context.Context, tx txn, p *plan, ws []write) ([]bool, error) {
	set := d.quote(p.dst.Name) + " = ?1"
	if p.bidx != nil {
		set += ", " + d.quote(p.bidx.Name) + " = ?2"
	}
	q := "UPDATE " + p.table + " SET " + set + " WHERE " + d.quote(p.pk.Name) + " = ?3 AND " + d.quote(p.src.Name) + " IS ?4"
	if !p.inPlace {
		q += " AND " + d.quote(p.dst.Name) + " IS ?5"
	}
	conn, ok := tx.(*sqliteTx)
	if !ok {
		return nil, errors.New("migrate: sqlite write outside a sqlite transaction")
	}
	st, err := conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	defer st.Close()
	applied := make([]bool, len(ws))
	for i, w := range ws {
		var val any = w.val
		if p.dstText {
			val = string(w.val)
		} else if w.val == nil {
			val = []byte{} // nil would be bound as NULL
		}
		var bidx any
		if w.bidx != nil {
			bidx = w.bidx
		}
		args := []any{val, bidx, w.r.pk, w.r.src.orig}
		if !p.inPlace {
			args = append(args, w.r.dst.orig)
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
		applied[i] = n == 1
	}
	return applied, nil
}

func (d sqlite) estimate(ctx context.Context, q querier, p *plan) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+p.table).Scan(&n); err != nil {
		return 0, fmt.Errorf("migrate: count %s: %w", p.ti.Name, err)
	}
	return n, nil
}

func (d sqlite) boundaries(ctx context.Context, q querier, p *plan, total int64, n int) ([]any, error) {
	if n <= 1 || total <= 0 {
		return nil, nil
	}
	pk := d.quote(p.pk.Name)
	step := (total + int64(n) - 1) / int64(n)
	rows, err := q.QueryContext(ctx, "SELECT k FROM (SELECT "+pk+" AS k, row_number() OVER (ORDER BY "+pk+") AS rn FROM "+
		p.table+") WHERE rn % ?1 = 0 ORDER BY rn LIMIT ?2", step, n-1)
	if err != nil {
		return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
	}
	defer rows.Close()
	var out []any
	for rows.Next() {
		var k any
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
	}
	return out, nil
}

// checkpointDDL leaves lo, hi and last_pk without a type: no affinity, so
// a key keeps its storage class and compares like the key column does.
func (d sqlite) checkpointDDL(table string) []string {
	return []string{`CREATE TABLE IF NOT EXISTS ` + quoteTable(d, table) + ` (
	job_id      TEXT    NOT NULL,
	chunk       INTEGER NOT NULL,
	kind        TEXT    NOT NULL DEFAULT '',
	table_name  TEXT    NOT NULL DEFAULT '',
	column_name TEXT    NOT NULL DEFAULT '',
	spec        TEXT    NOT NULL DEFAULT '',
	lo,
	hi,
	last_pk,
	state       TEXT    NOT NULL,
	total       INTEGER NOT NULL DEFAULT 0,
	scanned     INTEGER NOT NULL DEFAULT 0,
	updated     INTEGER NOT NULL DEFAULT 0,
	skipped     INTEGER NOT NULL DEFAULT 0,
	nulls       INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	conflicts   INTEGER NOT NULL DEFAULT 0,
	failures    TEXT    NOT NULL DEFAULT '',
	updated_at  TEXT,
	PRIMARY KEY (job_id, chunk)
)`}
}

func (d sqlite) claimChunk(table string) string {
	return `SELECT chunk, lo, hi, last_pk, failures FROM ` + quoteTable(d, table) +
		` WHERE job_id = ?1 AND chunk > 0 AND state = 'pending' ORDER BY chunk LIMIT 1`
}

func (sqlite) onConflictDoNothing() string { return " ON CONFLICT (job_id, chunk) DO NOTHING" }
func (sqlite) duplicate(error) bool        { return false }
