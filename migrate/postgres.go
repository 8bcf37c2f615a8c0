package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// postgres is the PostgreSQL dialect, for database/sql with the pgx
// stdlib driver ("pgx"). It needs PostgreSQL 12 or later.
//
// Batches are claimed with SELECT … FOR UPDATE SKIP LOCKED on chunk rows
// of the checkpoint table, so workers in any number of processes share a
// job; a batch's compare-and-set writes are one UPDATE … FROM unnest(…)
// statement, and key values travel as text and are cast back to the key
// column's type, so any orderable key type works.
type postgres struct{ engine }

// begin starts a batch transaction that commits without waiting for its
// WAL flush (synchronous_commit off, for this transaction only). A server
// crash can then lose the last few committed batches, but each batch's
// rows and its checkpoint are one transaction and are lost together, so
// the job resumes from an earlier point and redoes them; nothing is lost
// or done twice. It spares a disk flush per batch. The application's own
// commits still flush, and flush ours with them.
func (postgres) begin(ctx context.Context, db *sql.DB) (txn, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// keyCast turns a text bind parameter into the key column's type.
func (d postgres) keyCast(p *plan, expr string) string {
	return "CAST(" + expr + "::text AS " + p.pk.Type + ")"
}

// selectList is the SELECT list of a batch read. Columns that are neither
// text nor bytea are read in their text form.
func (d postgres) selectList(p *plan) string {
	return "t." + d.quote(p.pk.Name) + "::text" + versionList(p) + d.columnList(p)
}

// columnList is the part of a batch read's SELECT list after the key: the
// plan's readCols and bind column, each after a comma.
func (d postgres) columnList(p *plan) string {
	var b strings.Builder
	src, dst, tenant, bidx := p.readCols()
	for _, c := range append([]*column{src, dst, tenant, bidx, p.bind}, p.extraCols()...) {
		if c == nil {
			continue
		}
		b.WriteString(", t." + d.quote(c.Name))
		if c.class == classOther || c == tenant {
			b.WriteString("::text")
		}
	}
	return b.String()
}

func (d postgres) selectRows(p *plan, hasLo, hasHi bool) string {
	return d.selectRowsOf(p, d.selectList(p), hasLo, hasHi)
}

// selectRowsOf is selectRows with the SELECT list given.
func (d postgres) selectRowsOf(p *plan, list string, hasLo, hasHi bool) string {
	var where []string
	n := 1
	pk := "t." + d.quote(p.pk.Name)
	if hasLo {
		where = append(where, pk+" > "+d.keyCast(p, d.ph(n)))
		n++
	}
	if hasHi {
		where = append(where, pk+" <= "+d.keyCast(p, d.ph(n)))
		n++
	}
	q := "SELECT " + list + " FROM " + p.table + " AS t"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY " + pk + " LIMIT " + d.ph(n)
}

func (d postgres) selectByPK(p *plan, pks []any) (string, []any) {
	keys := make([]string, len(pks))
	for i, k := range pks {
		keys[i] = k.(string)
	}
	return "SELECT " + d.selectList(p) + " FROM " + p.table + " AS t WHERE t." + d.quote(p.pk.Name) +
		" = ANY (CAST($1::text[] AS " + p.pk.Type + "[]))", []any{keys}
}

func (postgres) scanPK() any { return new(string) }

func (postgres) pkValue(dst any) (any, string) {
	s := *dst.(*string)
	return s, s
}

// arrayType is the Postgres array element type a column's values travel
// as: bytea for binary columns, text for everything else.
func arrayType(c column) string {
	if c.class == classBytes {
		return "bytea"
	}
	return "text"
}

// cellArg appends a cell to a bind array of the column's travel type, NULL
// kept as NULL.
func cellArray(c column, cells []*cell) any {
	if c.class == classBytes {
		out := make([][]byte, len(cells))
		for i, x := range cells {
			if x.valid {
				// A nil slice would travel as NULL.
				out[i] = x.b
				if out[i] == nil {
					out[i] = []byte{}
				}
			}
		}
		return out
	}
	out := make([]*string, len(cells))
	for i, x := range cells {
		if x.valid {
			s := string(x.b)
			out[i] = &s
		}
	}
	return out
}

// cmpExpr is a column as the compare-and-set compares it: in its travel
// type.
func (d postgres) cmpExpr(c column) string {
	if c.class == classOther {
		return "t." + d.quote(c.Name) + "::text"
	}
	return "t." + d.quote(c.Name)
}

// write is one UPDATE … FROM unnest(…) for the whole batch: the
// compare-and-set condition is part of the join, so a row the application
// changed since it was read does not match and is left alone (and not
// returned).
func (d postgres) write(ctx context.Context, tx txn, p *plan, ws []write) ([]bool, error) {
	if p.byVersion {
		applied, err := d.writeVersioned(ctx, tx, []*plan{p}, [][]write{ws})
		if err != nil {
			return nil, err
		}
		return applied[0], nil
	}
	n := len(ws)
	pks := make([]string, n)
	srcs := make([]*cell, n)
	dsts := make([]*cell, n)
	news := make([]*cell, n)
	bidxs := make([][]byte, n)
	for i := range ws {
		pks[i] = ws[i].r.pk.(string)
		srcs[i] = &ws[i].r.src
		dsts[i] = &ws[i].r.dst
		news[i] = &cell{b: ws[i].val, valid: true}
		bidxs[i] = ws[i].bidx
	}
	set := d.quote(p.dst.Name) + " = v.new"
	if p.dst.class == classOther {
		set = d.quote(p.dst.Name) + " = CAST(v.new AS " + p.dst.Type + ")"
	}
	cols := []string{"pk", "old", "new"}
	types := []string{"text", arrayType(p.src), arrayType(p.dst)}
	args := []any{pks, cellArray(p.src, srcs), cellArray(p.dst, news)}
	cond := d.cmpExpr(p.src) + " IS NOT DISTINCT FROM v.old"
	if !p.inPlace {
		cols = append(cols, "olddst")
		types = append(types, arrayType(p.dst))
		args = append(args, cellArray(p.dst, dsts))
		cond += " AND " + d.cmpExpr(p.dst) + " IS NOT DISTINCT FROM v.olddst"
	}
	if p.bidx != nil {
		cols = append(cols, "bidx")
		types = append(types, "bytea")
		args = append(args, bidxs)
		set += ", " + d.quote(p.bidx.Name) + " = v.bidx"
	}
	for k, pi := range p.nidx {
		c := "nidx" + strconv.Itoa(k)
		cols = append(cols, c)
		types = append(types, "bytea")
		args = append(args, indexArray(ws, k, n, func(i int) int { return i }))
		set += ", " + d.quote(pi.col.Name) + " = v." + c
	}
	for k, pc := range p.parts {
		c := "part" + strconv.Itoa(k)
		cells := make([]*cell, n)
		for i := range ws {
			cells[i] = &ws[i].r.parts[k]
		}
		cols = append(cols, c)
		types = append(types, arrayType(pc.col))
		args = append(args, cellArray(pc.col, cells))
		cond += " AND " + d.cmpExpr(pc.col) + " IS NOT DISTINCT FROM v." + c
	}
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = d.ph(i+1) + "::" + types[i] + "[]"
	}
	q := "UPDATE " + p.table + " AS t SET " + set +
		" FROM unnest(" + strings.Join(params, ", ") + ") AS v(" + strings.Join(cols, ", ") + ")" +
		" WHERE t." + d.quote(p.pk.Name) + " = CAST(v.pk AS " + p.pk.Type + ") AND " + cond +
		" RETURNING v.pk"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	defer rows.Close()
	done := make(map[string]bool, n)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
		done[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	applied := make([]bool, n)
	for i, k := range pks {
		applied[i] = done[k]
	}
	return applied, nil
}

// exactBoundaryRows is the table size up to which chunk boundaries come
// from a full pass over the key index; larger tables are sampled. A
// variable so tests can take the sampling path on small tables.
var exactBoundaryRows int64 = 2_000_000

func (d postgres) boundaries(ctx context.Context, q querier, p *plan, total int64, n int) ([]any, error) {
	if n <= 1 || total <= 0 {
		return nil, nil
	}
	pk := "t." + d.quote(p.pk.Name)
	var rows *sql.Rows
	var err error
	if total <= exactBoundaryRows {
		step := (total + int64(n) - 1) / int64(n)
		rows, err = q.QueryContext(ctx, "SELECT k FROM (SELECT "+pk+"::text AS k, row_number() OVER (ORDER BY "+pk+") AS rn FROM "+
			p.table+" AS t) s WHERE rn % $1 = 0 ORDER BY rn LIMIT $2", step, n-1)
	} else {
		// A block sample of about 64 keys per chunk; the quantiles of the
		// sample cut the table into roughly equal chunks.
		const perChunk = 64
		pct := min(100, 100*float64(n*perChunk)/float64(total))
		rows, err = q.QueryContext(ctx, "SELECT k FROM (SELECT "+pk+"::text AS k, row_number() OVER (ORDER BY "+pk+") AS rn FROM "+
			p.table+" AS t TABLESAMPLE SYSTEM ($1)) s WHERE rn % $2 = 0 ORDER BY rn LIMIT $3", pct, perChunk, n-1)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: plan chunks of %s: %w", p.ti.Name, err)
	}
	return collectKeys(d, p, rows)
}
