package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// mysqlDialect is the dialect of MySQL 8.0+ and MariaDB 10.6+ through
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
type mysqlDialect struct{ engine }

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
	for _, c := range append([]*column{src, dst, tenant, bidx, p.bind}, p.extraCols()...) {
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
// what was read (every column the batch read, compared byte for byte:
// source, target, tenant, bind column) and updates those, one prepared
// UPDATE per row. The rows stay locked until the batch commits, so the
// updates cannot lose a race.
func (d mysqlDialect) write(ctx context.Context, tx txn, p *plan, ws []write) ([]bool, error) {
	pks := make([]any, len(ws))
	for i := range ws {
		pks[i] = ws[i].r.pk
	}
	rs, err := tx.QueryContext(ctx, d.lockRows(p, d.selectList(p), len(pks)), pks...)
	if err != nil {
		return nil, fmt.Errorf("migrate: lock %s: %w", p.ti.Name, err)
	}
	cur, err := scanRows(d, p, rs, len(pks))
	if err != nil {
		return nil, err
	}
	now := make(map[string]*row, len(cur))
	for i := range cur {
		now[pkKey(cur[i].pk)] = &cur[i]
	}

	set := "t." + d.quote(p.dst.Name) + " = ?"
	if p.bidx != nil {
		set += ", t." + d.quote(p.bidx.Name) + " = ?"
	}
	for _, pi := range p.nidx {
		set += ", t." + d.quote(pi.col.Name) + " = ?"
	}
	st, err := prepare(ctx, tx, "UPDATE "+p.table+" AS t SET "+set+" WHERE t."+d.quote(p.pk.Name)+" = "+d.keyCast(p.pk, "?"))
	if err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	defer st.Close()
	applied := make([]bool, len(ws))
	for i, w := range ws {
		if c, ok := now[pkKey(w.r.pk)]; !ok || !sameRead(p, c, w.r) {
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
		for k := range p.nidx {
			args = append(args, indexArg(w, k))
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

// sameRead reports whether two reads of a row hold the same values in
// every column p reads: a row whose tenant or bind column changed needs
// its value sealed again as much as one whose source changed.
func sameRead(p *plan, a, b *row) bool {
	if !(sameCell(a.src, b.src) && (p.inPlace || sameCell(a.dst, b.dst)) &&
		(p.tenant == nil || sameCell(a.tenant, b.tenant)) && (p.bind == nil || sameCell(a.bind, b.bind))) {
		return false
	}
	// A named index is computed from its part columns as read: one that
	// changed makes the row be read again, never indexed from a stale
	// part.
	for i := range p.parts {
		if !sameCell(a.parts[i], b.parts[i]) {
			return false
		}
	}
	return true
}

// sameCell reports whether two reads of a column hold the same value.
func sameCell(a, b cell) bool {
	return a.valid == b.valid && bytes.Equal(a.b, b.b)
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
	return collectKeys(d, p, rows)
}
