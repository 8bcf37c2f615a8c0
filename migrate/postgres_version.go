package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// On Postgres a batch's compare-and-set is on the row version it read,
// not on the values: the read takes each row's tableoid and xmin, and the
// UPDATE writes a row (found by its key, as before) only if it is still
// in the same table and its tuple still carries the xmin read. What
// travels back is the key, the version and the new values; the old
// values stay in Go.
//
// Why this is the same check as comparing the values, only stronger:
//
//   - Every change to a row (UPDATE, DELETE and a new INSERT of its key,
//     an UPDATE moving it to another partition) makes a new tuple whose
//     xmin is the id of the writing transaction. The tuple read was
//     written by a transaction that had committed before the read, so no
//     later version of the row can carry its xmin.
//   - A writer that commits after the UPDATE's snapshot: the UPDATE waits
//     for it and re-checks its WHERE on the newest version, whose xmin is
//     the writer's, so the row is left alone and read again. A writer
//     that rolls back leaves the tuple read live, unchanged and
//     matching; a row lock (SELECT … FOR UPDATE) changes nothing.
//   - Freezing keeps the raw xmin (Postgres 9.4 and later), which is
//     what the xmin column shows.
//   - tableoid keeps the key's row in the heap it was read from: an
//     inheritance child can hold a key its parent also holds, each with
//     its own xmin, both written by one transaction.
//   - It covers the whole row: a concurrent change of the tenant or bind
//     column, which the value check did not see, now also makes the row
//     be read again and sealed for its new tenant.
//
// A row whose source did not change but whose tuple did (an application
// UPDATE writing the same value) is re-read: a wasted re-read, never a
// wrong write. The test of a whole row replaces the per-column checks of
// a multi-column batch: a row changed under any of its columns is re-read
// for all of them.
//
// Finding the rows by tuple id (ctid) instead of by key was measured and
// dropped: the tid-scan UPDATE cost the server more than the key's index
// probe (BENCHMARKS.md, "Migration throughput, run 5").
//
// Only tables whose every row lives in a heap carry a meaningful xmin:
// plain tables, partitioned tables and inheritance trees made of them. A
// foreign table's rows (postgres_fdw) show xmin 0, so a view, a foreign
// table, or a tree with one in it keeps the compare-and-set on values; a
// row read with xmin 0 never matches (a foreign partition attached while
// the job runs).

// rowVersion is which version of a row was read: its relation and
// xmin, each in its text form.
type rowVersion struct {
	rel, xmin string
}

// versionList is the SELECT list that reads a row's version, after the
// key, for plans that compare versions.
func versionList(p *plan) string {
	if !p.byVersion {
		return ""
	}
	return ", t.tableoid::text, t.xmin::text"
}

// versioned reports whether every row of table lives in a heap whose
// tuples carry an xmin: a plain or partitioned table all of whose
// partitions and inheritance children, at any depth, are plain or
// partitioned tables.
func (d postgres) versioned(ctx context.Context, q querier, table string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `
WITH RECURSIVE tree(oid) AS (
  SELECT to_regclass($1)::oid
  UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid
)
SELECT coalesce(bool_and(c.relkind IN ('r', 'p')), false) FROM tree JOIN pg_class c ON c.oid = tree.oid`, d.sql().QuoteTable(table)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("migrate: describe %s: %w", table, err)
	}
	return ok, nil
}

// writeVersioned is the compare-and-set UPDATE of plans that compare row
// versions: one statement for the batch's rows and every plan's writes
// on them. A row's targets are set together if the row is still the
// version read, and none of them otherwise. A plan without a write for
// some of the rows keeps their target (a NULL new value, which no write
// has, stands for "no write").
func (d postgres) writeVersioned(ctx context.Context, tx txn, ps []*plan, wss [][]write) ([][]bool, error) {
	// The rows with a write, each once, in the order of the read that
	// returned them all (row.seq); at[seq] is a row's place in the
	// statement's arrays, -1 for a row without a write.
	var at []int
	for _, ws := range wss {
		for i := range ws {
			at = growTo(at, ws[i].r.seq+1)
		}
	}
	var keys, rels, xmins []string
	for _, ws := range wss {
		for i := range ws {
			r := ws[i].r
			if j := at[r.seq]; j >= 0 {
				// The same place in the read must be the same row.
				if keys[j] != r.pk.(string) {
					return nil, fmt.Errorf("migrate: update %s: batch rows out of order", ps[0].ti.Name)
				}
				continue
			}
			at[r.seq] = len(keys)
			keys = append(keys, r.pk.(string))
			rels = append(rels, r.ver.rel)
			xmins = append(xmins, r.ver.xmin)
		}
	}
	n := len(keys)
	cols := []string{"pk", "rel", "xmin"}
	params := []string{"$1::text[]", "$2::text[]::oid[]", "$3::text[]::xid[]"}
	args := []any{keys, rels, xmins}
	var sets []string
	for k, p := range ps {
		s := strconv.Itoa(k)
		all := len(wss[k]) == n
		vals := make([][]byte, n)
		has := make([]bool, n)
		var bidxs [][]byte
		if p.bidx != nil {
			bidxs = make([][]byte, n)
		}
		for i := range wss[k] {
			wr := &wss[k][i]
			j := at[wr.r.seq]
			vals[j], has[j] = wr.val, true
			if bidxs != nil {
				bidxs[j] = wr.bidx
			}
		}
		cols = append(cols, "new"+s)
		params = append(params, d.ph(len(params)+1)+"::"+arrayType(p.dst)+"[]")
		args = append(args, valueArray(p.dst, vals, has))
		dst := d.quote(p.dst.Name)
		val := "v.new" + s
		if p.dst.class == classOther {
			val = "CAST(" + val + " AS " + p.dst.Type + ")"
		}
		sets = append(sets, dst+" = "+onlyWritten(all, s, val, "t."+dst))
		if p.bidx != nil {
			cols = append(cols, "bidx"+s)
			params = append(params, d.ph(len(params)+1)+"::bytea[]")
			args = append(args, bidxs)
			b := d.quote(p.bidx.Name)
			sets = append(sets, b+" = "+onlyWritten(all, s, "v.bidx"+s, "t."+b))
		}
		for x, pi := range p.nidx {
			c := "nidx" + s + "_" + strconv.Itoa(x)
			cols = append(cols, c)
			params = append(params, d.ph(len(params)+1)+"::bytea[]")
			ws := wss[k]
			args = append(args, indexArray(ws, x, n, func(i int) int { return at[ws[i].r.seq] }))
			b := d.quote(pi.col.Name)
			sets = append(sets, b+" = "+onlyWritten(all, s, "v."+c, "t."+b))
		}
	}
	p := ps[0]
	// xmin 0 is no transaction's: the rows of a foreign table, which
	// have no version to compare.
	q := "UPDATE " + p.table + " AS t SET " + strings.Join(sets, ", ") +
		" FROM unnest(" + strings.Join(params, ", ") + ") WITH ORDINALITY AS v(" + strings.Join(cols, ", ") + ", i)" +
		" WHERE t." + d.quote(p.pk.Name) + " = CAST(v.pk AS " + p.pk.Type + ") AND t.tableoid = v.rel AND t.xmin = v.xmin AND v.xmin <> '0'::xid" +
		" RETURNING v.i"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	defer rows.Close()
	done := make([]bool, n)
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
		if i < 1 || i > int64(n) {
			return nil, fmt.Errorf("migrate: update %s: returned row %d of %d", p.ti.Name, i, n)
		}
		done[i-1] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	applied := make([][]bool, len(ps))
	for k := range ps {
		applied[k] = make([]bool, len(wss[k]))
		for i := range wss[k] {
			applied[k][i] = done[at[wss[k][i].r.seq]]
		}
	}
	return applied, nil
}

// growTo returns at with at least n entries, the new ones -1.
func growTo(at []int, n int) []int {
	for len(at) < n {
		at = append(at, -1)
	}
	return at
}

// valueArray is the bind array of new values for a target of column c's
// travel type: vals[j] where has[j], NULL elsewhere. A written value is
// never NULL, even if empty.
func valueArray(c column, vals [][]byte, has []bool) any {
	if c.class == classBytes {
		for j, v := range vals {
			if has[j] && v == nil {
				vals[j] = []byte{}
			}
		}
		return vals
	}
	strs := make([]string, len(vals))
	out := make([]*string, len(vals))
	for j, v := range vals {
		if has[j] {
			strs[j] = string(v)
			out[j] = &strs[j]
		}
	}
	return out
}

// onlyWritten is the value a target is set to: val where plan s has a
// write for the row (every row when all), the target's own value (keep)
// elsewhere.
func onlyWritten(all bool, s, val, keep string) string {
	if all {
		return val
	}
	return "CASE WHEN v.new" + s + " IS NULL THEN " + keep + " ELSE " + val + " END"
}
