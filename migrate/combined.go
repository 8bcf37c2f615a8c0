package migrate

import (
	"context"
	"database/sql"
	"fmt"
)

// A job with further columns (Job.Also) costs the database most in its
// writes: one UPDATE per column makes one new row version per column, and
// each column's rows are read again. A dialect implementing combinedSQL
// reads a batch's rows once with every column and writes all of a row's
// columns in one UPDATE: one row version per row, whatever the number of
// columns. Where the compare-and-set is on values, each column keeps its
// own (a column whose source changed since it was read is left alone,
// the row's other columns still written); where it is on the row version
// (Postgres), a changed row is left alone whole. Either way each column
// re-reads its lost rows through the one-column path. Dialects without it, and plans it cannot express, take the
// per-column path (read, process, processAlso).

// combinedSQL is the optional part of a dialect that reads and writes
// several plans of one table (the job's and its further columns') in one
// statement each.
type combinedSQL interface {
	// combinable reports whether the plans can share one read and one
	// UPDATE.
	combinable(ps []*plan) bool
	// selectRowsCombined is selectRows with every plan's columns after
	// the key: pk, then each plan's readCols and bind column in turn.
	selectRowsCombined(ps []*plan, hasLo, hasHi bool) string
	// writeCombined applies wss[k], the writes of ps[k], in one UPDATE
	// and reports for each write whether it was applied.
	writeCombined(ctx context.Context, tx txn, ps []*plan, wss [][]write) ([][]bool, error)
}

// combined returns the dialect's combinedSQL if w's job has further
// columns and the dialect can combine its plans.
func (w *worker) combined() (combinedSQL, bool) {
	if len(w.subs) == 0 {
		return nil, false
	}
	c, ok := w.m.d.(combinedSQL)
	if !ok || !c.combinable(w.plans()) {
		return nil, false
	}
	return c, true
}

// plans returns the plans of w and its sub-workers, in order.
func (w *worker) plans() []*plan {
	ps := []*plan{w.p}
	for _, s := range w.subs {
		ps = append(ps, s.p)
	}
	return ps
}

// batch reads up to n rows with lo < pk <= hi through q and migrates
// every column of the job on them inside tx (nil for a dry run). rows
// are the job's first column's rows, whose last key is where the batch
// ends.
func (w *worker) batch(ctx context.Context, q querier, tx txn, lo, hi any, n int) ([]row, tally, []Failure, error) {
	if c, ok := w.combined(); ok {
		return w.batchCombined(ctx, c, q, tx, lo, hi, n)
	}
	rows, err := w.read(ctx, q, lo, hi, n)
	if err != nil {
		return nil, tally{}, nil, err
	}
	t, failures, err := w.process(ctx, tx, rows)
	if err != nil {
		return nil, t, nil, err
	}
	if len(w.subs) > 0 && len(rows) > 0 {
		at, afs, err := w.processAlso(ctx, q, tx, lo, rows[len(rows)-1].pk)
		if err != nil {
			return nil, t, nil, err
		}
		t.add(at)
		failures = append(failures, afs...)
	}
	return rows, t, failures, nil
}

// batchCombined is batch with one read and one UPDATE for all columns.
func (w *worker) batchCombined(ctx context.Context, c combinedSQL, q querier, tx txn, lo, hi any, n int) ([]row, tally, []Failure, error) {
	ps := w.plans()
	var args []any
	if lo != nil {
		args = append(args, lo)
	}
	if hi != nil {
		args = append(args, hi)
	}
	args = append(args, n)
	rs, err := q.QueryContext(ctx, c.selectRowsCombined(ps, lo != nil, hi != nil), args...)
	if err != nil {
		return nil, tally{}, nil, fmt.Errorf("migrate: read %s: %w", w.p.ti.Name, err)
	}
	sets, err := scanCombined(w.m.d, ps, rs, n)
	if err != nil {
		return nil, tally{}, nil, err
	}
	ws := append([]*worker{w}, w.subs...)
	ts := make([]tally, len(ws))
	fs := make([][]Failure, len(ws))
	wss := make([][]write, len(ws))
	writes := 0
	for k, x := range ws {
		if wss[k], err = x.decide(ctx, sets[k], &ts[k], &fs[k]); err != nil {
			return nil, tally{}, nil, err
		}
		writes += len(wss[k])
	}
	if len(w.keys.cold) > 0 || w.anyCold() {
		return nil, tally{}, nil, errCold
	}
	switch {
	case writes == 0:
	case w.dry:
		for k := range ws {
			ts[k].Updated += int64(len(wss[k]))
		}
	default:
		if testHookBeforeWrite != nil {
			var all []write
			for _, x := range wss {
				all = append(all, x...)
			}
			if err := testHookBeforeWrite(all); err != nil {
				return nil, tally{}, nil, err
			}
		}
		applied, err := c.writeCombined(ctx, tx, ps, wss)
		if err != nil {
			return nil, tally{}, nil, err
		}
		for k, x := range ws {
			again, err := x.settle(ctx, tx, wss[k], applied[k], 0, &ts[k], &fs[k])
			if err != nil {
				return nil, tally{}, nil, err
			}
			if err := x.processFrom(ctx, tx, again, 1, &ts[k], &fs[k]); err != nil {
				return nil, tally{}, nil, err
			}
		}
	}
	// Rows count once; the further columns' tallies count values.
	t := ts[0]
	t.Scanned = int64(len(sets[0]))
	failures := fs[0]
	for k := 1; k < len(ws); k++ {
		t.add(ts[k])
		for _, f := range fs[k] {
			f.Reason = "column " + ws[k].p.src.Name + ": " + f.Reason
			failures = append(failures, f)
		}
	}
	return sets[0], t, failures, nil
}

// scanCombined reads the rows of a combined read into one row slice per
// plan, each row with the key; n is how many rows are expected.
func scanCombined(d dialect, ps []*plan, rows *sql.Rows, n int) ([][]row, error) {
	defer rows.Close()
	sets := make([][]row, len(ps))
	for k := range sets {
		sets[k] = make([]row, 0, n)
	}
	rs := make([]row, len(ps))
	for rows.Next() {
		pk := d.scanPK()
		clear(rs)
		var ver rowVersion
		dest := []any{pk}
		if ps[0].byVersion {
			dest = append(dest, &ver.rel, &ver.xmin)
		}
		for k, p := range ps {
			r := &rs[k]
			_, dst, tenant, bidx := p.readCols()
			dest = append(dest, &r.src)
			if dst != nil {
				dest = append(dest, &r.dst)
			}
			if tenant != nil {
				dest = append(dest, &r.tenant)
			}
			if bidx != nil {
				dest = append(dest, &r.bidx)
			}
			if p.bind != nil {
				dest = append(dest, &r.bind)
			}
			dest = p.extraDest(dest, r)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", ps[0].ti.Name, err)
		}
		v, text := d.pkValue(pk)
		for k := range ps {
			rs[k].pk, rs[k].pkText, rs[k].ver, rs[k].seq = v, text, ver, len(sets[k])
			sets[k] = append(sets[k], rs[k])
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", ps[0].ti.Name, err)
	}
	return sets, nil
}
