package migrate

import (
	"context"
	"fmt"
	"strings"
)

// MySQL and SQLite make a batch's compare-and-set in Go, on rows the batch
// holds: MySQL locks them (SELECT … FOR UPDATE), SQLite's batch holds the
// database's write lock (BEGIN IMMEDIATE). Their combined path for a job
// with further columns reads a batch's rows once with every column, locks
// and reads them again once with every column, and writes each row with one
// UPDATE setting every column whose source (and target) still hold what
// was read: one row version per row, as on Postgres, and one statement per
// row instead of one per column and row.

// rowwiseSQL is what the row-wise combined path needs of a dialect.
type rowwiseSQL interface {
	dialect
	// keyList is the key as a batch's SELECT list starts with it.
	keyList(p *plan) string
	// columnList is the rest of a batch's SELECT list for p.
	columnList(p *plan) string
	selectRowsOf(p *plan, list string, hasLo, hasHi bool) string
	// lockRows selects list from the rows whose keys are the n bind
	// parameters, locking them until the transaction ends.
	lockRows(p *plan, list string, n int) string
	// keyEquals is the WHERE condition of a one-row UPDATE: the key
	// equal to one bind parameter.
	keyEquals(p *plan) string
}

var (
	_ combinedSQL = mysqlDialect{}
	_ combinedSQL = sqlite{}
	_ rowwiseSQL  = mysqlDialect{}
	_ rowwiseSQL  = sqlite{}
)

func (d mysqlDialect) keyList(p *plan) string { return d.pkExpr(p) }
func (d sqlite) keyList(p *plan) string       { return d.quote(p.pk.Name) }

func (d mysqlDialect) lockRows(p *plan, list string, n int) string {
	return "SELECT " + list + " FROM " + p.table + " AS t WHERE " + d.inPK(p, n) + " FOR UPDATE"
}

func (d sqlite) lockRows(p *plan, list string, n int) string {
	phs := make([]string, n)
	for i := range phs {
		phs[i] = d.ph(i + 1)
	}
	return "SELECT " + list + " FROM " + p.table + " WHERE " + d.quote(p.pk.Name) + " IN (" + strings.Join(phs, ", ") + ")"
}

func (d mysqlDialect) keyEquals(p *plan) string {
	return d.quote(p.pk.Name) + " = " + d.keyCast(p.pk, "?")
}

func (d sqlite) keyEquals(p *plan) string { return d.quote(p.pk.Name) + " = ?" }

func (mysqlDialect) combinable(ps []*plan) bool { return rowwiseCombinable(ps) }
func (sqlite) combinable(ps []*plan) bool       { return rowwiseCombinable(ps) }

func (d mysqlDialect) selectRowsCombined(ps []*plan, hasLo, hasHi bool) string {
	return rowwiseSelect(d, ps, hasLo, hasHi)
}

func (d sqlite) selectRowsCombined(ps []*plan, hasLo, hasHi bool) string {
	return rowwiseSelect(d, ps, hasLo, hasHi)
}

func (d mysqlDialect) writeCombined(ctx context.Context, tx txn, ps []*plan, wss [][]write) ([][]bool, error) {
	return rowwiseWrite(ctx, d, tx, ps, wss)
}

func (d sqlite) writeCombined(ctx context.Context, tx txn, ps []*plan, wss [][]write) ([][]bool, error) {
	return rowwiseWrite(ctx, d, tx, ps, wss)
}

// rowwiseCombinable: every plan of a job that writes.
func rowwiseCombinable(ps []*plan) bool {
	for _, p := range ps {
		if p.job.Kind == kindVerify {
			return false
		}
	}
	return true
}

// rowwiseList is the key, then every plan's columns, as scanCombined
// reads them.
func rowwiseList(d rowwiseSQL, ps []*plan) string {
	list := d.keyList(ps[0])
	for _, p := range ps {
		list += d.columnList(p)
	}
	return list
}

func rowwiseSelect(d rowwiseSQL, ps []*plan, hasLo, hasHi bool) string {
	return d.selectRowsOf(ps[0], rowwiseList(d, ps), hasLo, hasHi)
}

// rowwiseWrite locks the rows of wss and reads them again, then writes
// each row in one UPDATE of the columns whose compare-and-set holds:
// every column the batch read for it (source, target, tenant, bind
// column) byte for byte what it was. A column that changed is left alone, and reported not
// applied, while the row's other columns are written.
func rowwiseWrite(ctx context.Context, d rowwiseSQL, tx txn, ps []*plan, wss [][]write) ([][]bool, error) {
	p := ps[0]
	// The batch's rows in order, each with its write of each plan.
	at := map[string]int{}
	var keys []any
	var byRow [][]*write
	for k, ws := range wss {
		for i := range ws {
			key := pkKey(ws[i].r.pk)
			j, ok := at[key]
			if !ok {
				j = len(keys)
				at[key] = j
				keys = append(keys, ws[i].r.pk)
				byRow = append(byRow, make([]*write, len(ps)))
			}
			byRow[j][k] = &ws[i]
		}
	}
	rs, err := tx.QueryContext(ctx, d.lockRows(p, rowwiseList(d, ps), len(keys)), keys...)
	if err != nil {
		return nil, fmt.Errorf("migrate: lock %s: %w", p.ti.Name, err)
	}
	sets, err := scanCombined(d, ps, rs, len(keys))
	if err != nil {
		return nil, err
	}
	now := make(map[string][]*row, len(keys))
	for k := range ps {
		for i := range sets[k] {
			r := &sets[k][i]
			key := pkKey(r.pk)
			if now[key] == nil {
				now[key] = make([]*row, len(ps))
			}
			now[key][k] = r
		}
	}
	done := make(map[*write]bool)
	for j, key := range keys {
		cur := now[pkKey(key)]
		if cur == nil {
			continue // deleted since it was read
		}
		var set []string
		var args []any
		for k, q := range ps {
			w := byRow[j][k]
			if w == nil || !sameRead(q, cur[k], w.r) {
				continue
			}
			set = append(set, d.quote(q.dst.Name)+" = ?")
			args = append(args, rowwiseValue(q, w.val))
			if q.bidx != nil {
				set = append(set, d.quote(q.bidx.Name)+" = ?")
				var bidx any
				if w.bidx != nil {
					bidx = w.bidx
				}
				args = append(args, bidx)
			}
			for i, pi := range q.nidx {
				set = append(set, d.quote(pi.col.Name)+" = ?")
				args = append(args, indexArg(*w, i))
			}
			done[w] = true
		}
		if len(set) == 0 {
			continue
		}
		q := "UPDATE " + p.table + " SET " + strings.Join(set, ", ") + " WHERE " + d.keyEquals(p)
		if _, err := tx.ExecContext(ctx, q, append(args, key)...); err != nil {
			return nil, fmt.Errorf("migrate: update %s: %w", p.ti.Name, err)
		}
	}
	applied := make([][]bool, len(ps))
	for k := range ps {
		applied[k] = make([]bool, len(wss[k]))
		for i := range wss[k] {
			applied[k][i] = done[&wss[k][i]]
		}
	}
	return applied, nil
}

// rowwiseValue is a new value as its target column takes it: text for a
// column that is not binary, and never a nil slice (bound as NULL).
func rowwiseValue(p *plan, val []byte) any {
	if p.dstText {
		return string(val)
	}
	if val == nil {
		return []byte{}
	}
	return val
}
