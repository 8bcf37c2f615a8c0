package migrate

import (
	"context"
	"fmt"
	"slices"
)

// ColumnPair is one more column of the table a job migrates in the same
// pass (Job.Also): read from Column, written to ToColumn ("" in place),
// bound to ScopeColumn (default: the column that holds the ciphertext).
// The job's kind, tenant, key, bind column and mode apply to it; a blind
// index is only written for the job's first column. A failing row of
// one of these columns is reported with "column <name>: " before its
// reason; a reason without it is about the job's first column.
type ColumnPair struct {
	Column      string `json:"column"`
	ToColumn    string `json:"to_column,omitempty"`
	ScopeColumn string `json:"scope_column,omitempty"`
}

// Several columns of one table in one job: the job walks the key range
// once, and each batch transaction reads and writes every column's rows
// of the batch's key range before it advances the one checkpoint. Each
// column keeps its own plan (types, armor, width) and its own key cache,
// since a value's associated data names its column.

// columnJobs returns the job of each column in Also, normalized: the
// job's own fields with the column's names. The job itself is j.
func (j Job) columnJobs() ([]Job, error) {
	if len(j.Also) == 0 || j.Kind == Index {
		// An index job reads its further columns for index parts only.
		return nil, nil
	}
	if j.Kind == kindVerify {
		return nil, fmt.Errorf("%w: verify checks one column", ErrInvalidJob)
	}
	seen := map[string]bool{j.Column: true}
	if j.ToColumn != "" {
		seen[j.ToColumn] = true
	}
	out := make([]Job, 0, len(j.Also))
	for _, c := range j.Also {
		sub := j
		sub.Also, sub.BlindIndex, sub.Indexes = nil, nil, nil
		sub.Column, sub.ToColumn, sub.ScopeColumn = c.Column, c.ToColumn, c.ScopeColumn
		sub, err := sub.normalize()
		if err != nil {
			return nil, err
		}
		for _, name := range []string{sub.Column, sub.ToColumn} {
			if name == "" {
				continue
			}
			if seen[name] || slices.Contains([]string{j.PK, j.TenantColumn, j.BindColumn}, name) {
				return nil, fmt.Errorf("%w: column %q appears twice in the job", ErrInvalidJob, name)
			}
			seen[name] = true
		}
		if j.BlindIndex != nil && slices.Contains([]string{sub.Column, sub.ToColumn}, j.BlindIndex.Column) {
			return nil, fmt.Errorf("%w: column %q is the blind index column", ErrInvalidJob, j.BlindIndex.Column)
		}
		out = append(out, sub)
	}
	return out, nil
}

// planColumns plans the job's further columns into p.also.
func (m *Migrator) planColumns(ctx context.Context, p *plan) ([]string, error) {
	jobs, err := p.job.columnJobs()
	if err != nil {
		return nil, err
	}
	var warns []string
	for _, j := range jobs {
		sp, err := newPlan(ctx, m.d, m.db, j)
		if err != nil {
			return nil, err
		}
		w, err := m.preflight(ctx, sp)
		if err != nil {
			return nil, err
		}
		for _, s := range w {
			if !slices.Contains(warns, s) {
				warns = append(warns, s)
			}
		}
		p.also = append(p.also, sp)
	}
	return warns, nil
}

// newWorker returns a worker of p, with one sub-worker per further column.
func (m *Migrator) newWorker(p *plan, dry bool) *worker {
	w := &worker{m: m, p: p, dry: dry}
	for _, sp := range p.also {
		w.subs = append(w.subs, &worker{m: m, p: sp, dry: dry})
	}
	return w
}

// processAlso migrates the further columns of the batch's key range
// (lo, hi] inside tx (nil for a dry run, which reads through the pool):
// the rows the first column's batch read, read again with these
// columns. Their tallies count values; rows were counted once already.
func (w *worker) processAlso(ctx context.Context, q querier, tx txn, lo, hi any) (tally, []Failure, error) {
	var sum tally
	var failures []Failure
	for _, s := range w.subs {
		rows, err := s.read(ctx, q, lo, hi, maxBatchSize)
		if err != nil {
			return sum, nil, err
		}
		t, fs, err := s.process(ctx, tx, rows)
		if err != nil {
			return sum, nil, err
		}
		t.Scanned = 0
		sum.add(t)
		for _, f := range fs {
			f.Reason = "column " + s.p.src.Name + ": " + f.Reason
			failures = append(failures, f)
		}
	}
	return sum, failures, nil
}

// setNoLoad marks a batch transaction open or closed for w and its
// helpers.
func (w *worker) setNoLoad(v bool) {
	w.keys.noLoad = v
	for _, s := range w.helpers() {
		s.keys.noLoad = v
	}
}

// anyCold reports whether a helper met a key not yet loaded.
func (w *worker) anyCold() bool {
	for _, s := range w.helpers() {
		if len(s.keys.cold) > 0 {
			return true
		}
	}
	return false
}
