package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// sqlite is the SQLite dialect (modernc.org/sqlite, driver "sqlite", or
// any driver with SQLite 3.35 or later).
//
// SQLite has one writer at a time, so a batch runs in BEGIN IMMEDIATE:
// the read, the compare-and-set writes and the checkpoint are one
// transaction no other writer can come between. Workers in several
// processes still work (they queue on the database lock, with a busy
// timeout); they add no speed.
type sqlite struct{ engine }

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
	for _, c := range append([]*column{src, dst, tenant, bidx, p.bind}, p.extraCols()...) {
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
	n := 0
	next := func() string { n++; return d.ph(n) }
	set := d.quote(p.dst.Name) + " = " + next()
	if p.bidx != nil {
		set += ", " + d.quote(p.bidx.Name) + " = " + next()
	}
	for _, pi := range p.nidx {
		set += ", " + d.quote(pi.col.Name) + " = " + next()
	}
	q := "UPDATE " + p.table + " SET " + set + " WHERE " + d.quote(p.pk.Name) + " = " + next() + " AND " + d.quote(p.src.Name) + " IS " + next()
	if !p.inPlace {
		q += " AND " + d.quote(p.dst.Name) + " IS " + next()
	}
	for _, pc := range p.parts {
		q += " AND " + d.quote(pc.col.Name) + " IS " + next()
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
		args := []any{val}
		if p.bidx != nil {
			args = append(args, bytesArg(w.bidx))
		}
		for k := range p.nidx {
			args = append(args, indexArg(w, k))
		}
		args = append(args, w.r.pk, w.r.src.orig)
		if !p.inPlace {
			args = append(args, w.r.dst.orig)
		}
		for k := range p.parts {
			args = append(args, w.r.parts[k].orig)
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
	return collectKeys(d, p, rows)
}
