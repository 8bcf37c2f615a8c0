package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

var _ combinedSQL = postgres{}

// combinable: plans whose targets are bytea or text, so a new value is
// bound as is and compared back as is.
func (postgres) combinable(ps []*plan) bool {
	for _, p := range ps {
		if p.dst.class == classOther || p.job.Kind == kindVerify {
			return false
		}
	}
	return true
}

func (d postgres) selectRowsCombined(ps []*plan, hasLo, hasHi bool) string {
	list := "t." + d.quote(ps[0].pk.Name) + "::text" + versionList(ps[0])
	for _, p := range ps {
		list += d.columnList(p)
	}
	return d.selectRowsOf(ps[0], list, hasLo, hasHi)
}

// writeCombined is one UPDATE … FROM unnest(…) for the batch's rows: an
// array per plan of "writes this row" flags, old and new values. Each
// target is set by a CASE on its own compare-and-set, so a column whose
// source (or target) changed since it was read keeps the application's
// value while the row's other columns are written; a row none of whose
// conditions holds is not updated at all. Both the WHERE and the CASEs
// are evaluated on the row version the UPDATE writes (Postgres re-checks
// a row updated concurrently), as in the one-column write.
//
// RETURNING sees the row after the update, so a column counts as applied
// when its target now holds exactly the value this batch sealed for it: a
// fresh ciphertext (random nonce) nobody else can have written; for a
// deterministic seal or a decrypted plaintext, a target already holding
// that exact value is a correct row either way.
func (d postgres) writeCombined(ctx context.Context, tx txn, ps []*plan, wss [][]write) ([][]bool, error) {
	if ps[0].byVersion {
		return d.writeVersioned(ctx, tx, ps, wss)
	}
	at := map[string]int{}
	var pks []string
	for _, ws := range wss {
		for i := range ws {
			k := ws[i].r.pk.(string)
			if _, ok := at[k]; !ok {
				at[k] = len(pks)
				pks = append(pks, k)
			}
		}
	}
	n := len(pks)
	cols, types, args := []string{"pk"}, []string{"text"}, []any{pks}
	var sets, conds, rets []string
	for k, p := range ps {
		s := strconv.Itoa(k)
		on := make([]bool, n)
		olds, news, dsts := make([]*cell, n), make([]*cell, n), make([]*cell, n)
		bidxs := make([][]byte, n)
		for i := range n {
			olds[i], news[i], dsts[i] = &cell{}, &cell{}, &cell{}
		}
		for i := range wss[k] {
			wr := &wss[k][i]
			j := at[wr.r.pk.(string)]
			on[j] = true
			olds[j], dsts[j] = &wr.r.src, &wr.r.dst
			news[j] = &cell{b: wr.val, valid: true}
			bidxs[j] = wr.bidx
		}
		cols = append(cols, "w"+s, "old"+s, "new"+s)
		types = append(types, "boolean", arrayType(p.src), arrayType(p.dst))
		args = append(args, on, cellArray(p.src, olds), cellArray(p.dst, news))
		cond := "v.w" + s + " AND " + d.cmpExpr(p.src) + " IS NOT DISTINCT FROM v.old" + s
		if !p.inPlace {
			cols = append(cols, "olddst"+s)
			types = append(types, arrayType(p.dst))
			args = append(args, cellArray(p.dst, dsts))
			cond += " AND " + d.cmpExpr(p.dst) + " IS NOT DISTINCT FROM v.olddst" + s
		}
		for x, pc := range p.parts {
			c := "part" + s + "_" + strconv.Itoa(x)
			cells := make([]*cell, n)
			for i := range cells {
				cells[i] = &cell{}
			}
			for i := range wss[k] {
				wr := &wss[k][i]
				cells[at[wr.r.pk.(string)]] = &wr.r.parts[x]
			}
			cols = append(cols, c)
			types = append(types, arrayType(pc.col))
			args = append(args, cellArray(pc.col, cells))
			cond += " AND " + d.cmpExpr(pc.col) + " IS NOT DISTINCT FROM v." + c
		}
		dst := d.quote(p.dst.Name)
		sets = append(sets, dst+" = CASE WHEN "+cond+" THEN v.new"+s+" ELSE t."+dst+" END")
		if p.bidx != nil {
			cols = append(cols, "bidx"+s)
			types = append(types, "bytea")
			args = append(args, bidxs)
			b := d.quote(p.bidx.Name)
			sets = append(sets, b+" = CASE WHEN "+cond+" THEN v.bidx"+s+" ELSE t."+b+" END")
		}
		for x, pi := range p.nidx {
			c := "nidx" + s + "_" + strconv.Itoa(x)
			cols = append(cols, c)
			types = append(types, "bytea")
			ws := wss[k]
			args = append(args, indexArray(ws, x, n, func(i int) int { return at[ws[i].r.pk.(string)] }))
			b := d.quote(pi.col.Name)
			sets = append(sets, b+" = CASE WHEN "+cond+" THEN v."+c+" ELSE t."+b+" END")
		}
		conds = append(conds, "("+cond+")")
		rets = append(rets, "coalesce(v.w"+s+" AND t."+dst+" = v.new"+s+", false)")
	}
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = d.ph(i+1) + "::" + types[i] + "[]"
	}
	p := ps[0]
	q := "UPDATE " + p.table + " AS t SET " + strings.Join(sets, ", ") +
		" FROM unnest(" + strings.Join(params, ", ") + ") AS v(" + strings.Join(cols, ", ") + ")" +
		" WHERE t." + d.quote(p.pk.Name) + " = CAST(v.pk AS " + p.pk.Type + ") AND (" + strings.Join(conds, " OR ") + ")" +
		" RETURNING v.pk, " + strings.Join(rets, ", ")
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	defer rows.Close()
	done := make(map[string][]bool, n)
	for rows.Next() {
		var k string
		flags := make([]bool, len(ps))
		dest := []any{&k}
		for i := range flags {
			dest = append(dest, &flags[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
		done[k] = flags
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
	}
	applied := make([][]bool, len(ps))
	for k := range ps {
		applied[k] = make([]bool, len(wss[k]))
		for i := range wss[k] {
			if f, ok := done[wss[k][i].r.pk.(string)]; ok {
				applied[k][i] = f[k]
			}
		}
	}
	return applied, nil
}
