package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Named indexes (Job.Indexes): the blind indexes a GORM model declares
// with index:<name>,parts:… and sqltypes.NewIndex computes, filled by a
// job from the columns of each row. The bytes are fieldcore's (Engine.Index),
// so an application that declares the same name, transforms, order and
// bits finds the rows.
//
// A part's Source names a column of the table, never a Go field: the
// index's bytes hash the parts' values and the index's name, not the
// sources' names, so a GORM part "SSN" and a job's part "ssn" (the
// column the field maps to) give the same index. A source is
//
//   - one of the job's columns (Column or one of Also; for Encrypt its
//     ToColumn names it too): its plaintext, decrypted from the column
//     when it holds a colcrypt value;
//   - any other column: read as it is, never decrypted.
//
// Text and binary columns give their bytes, integer columns their
// decimal form, which is the plaintext encoding of a Go string, []byte
// or integer (docs/FORMAT.md). Any other type of a plain part column
// (floats, decimals, dates, booleans, JSON) is refused with ErrSchema:
// its text form differs between databases and from the encoding of the
// Go type a model would hold it in, and an index the application cannot
// match is worse than none.

// JobIndex is a named index a job fills: its definition and the existing
// binary column (bytea, BLOB) that stores it.
type JobIndex struct {
	// Index is the definition (field.NewIndex, or a tag parsed by
	// ParseJobIndex): name, bits and parts, each part's Source a column
	// of the table.
	Index *field.Index
	// Column is the binary column that holds the index.
	Column string
}

// NewJobIndex returns the named index described by tag, stored in
// column, in the words of a GORM model's index field (docs/TAGGING.md):
//
//	index:<name>,parts:<column>[/<transform>…][+…][,bits:<n>]
//
// with each part's source a column of the table rather than a Go field:
// "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32". The bytes it
// gives a row are those of a model tagged with the same name, transforms
// in the same order and bits. A tag that does not describe an index is a
// *field.TagError.
func NewJobIndex(column, tag string) (JobIndex, error) {
	spec, err := fieldcore.ParseTag("Index", tag)
	if err != nil {
		return JobIndex{}, err
	}
	if spec.Index == nil {
		return JobIndex{}, &fieldcore.TagError{Field: "Index", Tag: tag, Reason: "not an index: give index:<name> and parts:<part>[+<part>…]"}
	}
	return JobIndex{Index: spec.Index, Column: column}, nil
}

// errNoIndexKey is what a lookup-only computation of a named index
// meets for a tenant with no index key yet: no stored value can be right.
var errNoIndexKey = errors.New("migrate: the tenant has no index key yet")

// indexSpec is a JobIndex as the checkpoint records it.
type indexSpec struct {
	Name   string     `json:"name"`
	Column string     `json:"column"`
	Bits   int        `json:"bits"`
	Parts  []partSpec `json:"parts"`
	// Keying only when rotating: indexes recorded before it keep their
	// description.
	Keying string `json:"keying,omitempty"`
}

type partSpec struct {
	Source     string   `json:"source"`
	Transforms []string `json:"transforms,omitempty"`
}

func (j Job) indexSpecs() []indexSpec {
	var out []indexSpec
	for _, x := range j.Indexes {
		s := indexSpec{Name: x.Index.Name, Column: x.Column, Bits: x.Index.Bits}
		if x.Index.Keying == fieldcore.IndexRotating {
			s.Keying = x.Index.Keying.String()
		}
		for _, p := range x.Index.Parts {
			s.Parts = append(s.Parts, partSpec{Source: p.Source, Transforms: p.Transforms})
		}
		out = append(out, s)
	}
	return out
}

// jobColumns are the columns a job reads as its own: Column, ToColumn
// and each of Also's.
func (j Job) jobColumns() []string {
	cols := []string{j.Column, j.ToColumn}
	for _, c := range j.Also {
		cols = append(cols, c.Column, c.ToColumn)
	}
	return slices.DeleteFunc(cols, func(s string) bool { return s == "" })
}

// checkIndexes checks Job.Indexes against the job's other fields.
func (j Job) checkIndexes() error {
	if len(j.Indexes) == 0 {
		if j.Kind == Index {
			return fmt.Errorf("%w: an index job needs at least one index (Indexes)", ErrInvalidJob)
		}
		return nil
	}
	switch j.Kind {
	case Encrypt, Index, kindVerify:
	default:
		return fmt.Errorf("%w: %s does not write named indexes (encrypt and index do)", ErrInvalidJob, j.Kind)
	}
	if j.Kind == Index && j.BlindIndex != nil {
		return fmt.Errorf("%w: an index job writes named indexes only; rewrite a blind index with reindex", ErrInvalidJob)
	}
	own := j.jobColumns()
	roles := []string{j.PK, j.TenantColumn, j.BindColumn}
	if j.BlindIndex != nil {
		roles = append(roles, j.BlindIndex.Column)
	}
	seenName, seenCol := map[string]bool{}, map[string]bool{}
	for _, x := range j.Indexes {
		if x.Index == nil || x.Index.Len() == 0 {
			return fmt.Errorf("%w: an index without a definition (field.NewIndex)", ErrInvalidJob)
		}
		// Recheck the definition: an Index not made by NewIndex has no
		// transforms resolved.
		if _, err := x.Index.Input(nil, make([][]byte, len(x.Index.Parts))); err != nil {
			return fmt.Errorf("%w: index %q: %w", ErrInvalidJob, x.Index.Name, err)
		}
		name := x.Index.Name
		switch {
		case x.Column == "":
			return fmt.Errorf("%w: index %s: give the column that stores it", ErrInvalidJob, name)
		case seenName[name]:
			return fmt.Errorf("%w: index %s given twice", ErrInvalidJob, name)
		case seenCol[x.Column]:
			return fmt.Errorf("%w: index column %q holds two indexes", ErrInvalidJob, x.Column)
		case slices.Contains(own, x.Column) || slices.Contains(roles, x.Column):
			return fmt.Errorf("%w: index column %q is also another role's column", ErrInvalidJob, x.Column)
		}
		seenName[name], seenCol[x.Column] = true, true
		first := false
		for _, p := range x.Index.Parts {
			if slices.Contains([]string{j.Column, j.ToColumn}, p.Source) {
				first = true
			}
			if p.Source == x.Column || p.Source == j.PK || p.Source == j.TenantColumn || (j.BlindIndex != nil && p.Source == j.BlindIndex.Column) {
				return fmt.Errorf("%w: index %s: part %s is the key, tenant or an index column", ErrInvalidJob, name, p.Source)
			}
		}
		// The index is written with the job's first column: a NULL there
		// makes the index NULL, so the rows the job skips as NULL need
		// no index either.
		if !first {
			return fmt.Errorf("%w: index %s: the job's first column (%s) must be one of its parts; give the columns so that one of its parts comes first", ErrInvalidJob, name, j.Column)
		}
	}
	return nil
}

// planIndex is a named index resolved against the catalog.
type planIndex struct {
	ix  *field.Index
	col column // where it is stored
	// parts says where each part's value comes from: -1 is the job's
	// first column (the plaintext the transform has), otherwise an index
	// into plan.parts.
	parts []int
}

// partCol is a column read for index parts, beside the job's first one.
type partCol struct {
	col column
	// opener opens the column's colcrypt values (nil: a plain column,
	// read as it is); encrypted: a job over encrypted columns wants one
	// there, and fails a row holding plaintext.
	opener    *worker
	encrypted bool
	resolved  bool
}

// planIndexes resolves job.Indexes into p.
func (p *plan) planIndexes() error {
	job := p.job
	for _, x := range job.Indexes {
		c, err := p.ti.column(x.Column, "index")
		if err != nil {
			return err
		}
		if c.class != classBytes {
			return fmt.Errorf("%w: index column %s.%s is %s (%s); it needs a binary type (bytea, BLOB)", errUnsupportedColumn, p.ti.Name, c.Name, c.class, c.Type)
		}
		pi := planIndex{ix: x.Index, col: c}
		for _, part := range x.Index.Parts {
			if part.Source == job.Column || (job.ToColumn != "" && part.Source == job.ToColumn) {
				if err := p.checkPartType(p.src, part.Source); err != nil && job.Kind == Encrypt {
					return err
				}
				pi.parts = append(pi.parts, -1)
				continue
			}
			pi.parts = append(pi.parts, p.partIndex(part.Source))
		}
		if err := p.resolveParts(); err != nil {
			return err
		}
		p.nidx = append(p.nidx, pi)
	}
	return nil
}

// partIndex returns the place of source in p.parts, adding it.
func (p *plan) partIndex(source string) int {
	read := source
	for _, a := range p.job.Also {
		if source == a.ToColumn && a.ToColumn != "" {
			read = a.Column // the plaintext is read from the source
		}
	}
	for i, pc := range p.parts {
		if pc.col.Name == read {
			return i
		}
	}
	p.parts = append(p.parts, partCol{col: column{Name: read}})
	return len(p.parts) - 1
}

// resolveParts fills in the catalog columns and openers of p.parts.
func (p *plan) resolveParts() error {
	for i := range p.parts {
		pc := &p.parts[i]
		if pc.resolved {
			continue
		}
		c, err := p.ti.column(pc.col.Name, "index part")
		if err != nil {
			return err
		}
		pc.col, pc.resolved = c, true
		var pair *ColumnPair
		for k := range p.job.Also {
			if p.job.Also[k].Column == c.Name {
				pair = &p.job.Also[k]
			}
		}
		if pair == nil || (p.job.Kind == Encrypt && pair.ToColumn != "") {
			// A plain column, or the plaintext source of a column
			// encrypted into another: read as it is.
			if err := p.checkPartType(c, c.Name); err != nil {
				return err
			}
			continue
		}
		// A column of the job that holds (or, in place, may hold)
		// colcrypt values: opened with its own scope.
		op := *p
		op.job.ScopeColumn = pair.ScopeColumn
		if op.job.ScopeColumn == "" {
			op.job.ScopeColumn = pair.Column
		}
		op.job.BlindIndex, op.job.Indexes, op.nidx, op.parts, op.also = nil, nil, nil, nil, nil
		pc.opener = &worker{p: &op}
		pc.encrypted = p.job.Kind != Encrypt
		if p.job.Kind == Encrypt {
			if err := p.checkPartType(c, c.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPartType refuses a column whose values, as read, are not the
// plaintext encoding of the Go type a model would hold them in.
func (p *plan) checkPartType(c column, source string) error {
	if c.class != classOther || integerColumn(c) {
		return nil
	}
	return fmt.Errorf("%w: index part %s: %s.%s is %s; an index part is a text, binary or integer column (or an encrypted one)", errUnsupportedColumn, source, p.ti.Name, c.Name, c.Type)
}

// integerColumn reports whether c is an integer column, read in its
// decimal form. A MySQL tinyint(1) is what a Go bool maps to, and reads
// 0/1 where the bool encodes false/true: not an integer here.
func integerColumn(c column) bool {
	t := strings.ToLower(c.Type)
	if c.dataType != "" {
		switch c.dataType {
		case "tinyint":
			return !strings.HasPrefix(t, "tinyint(1)")
		case "smallint", "mediumint", "int", "integer", "bigint":
			return true
		}
		return false
	}
	switch t {
	case "smallint", "integer", "bigint", "int", "int2", "int4", "int8":
		return true
	}
	// SQLite: INTEGER affinity, as a declared type containing "INT".
	return strings.Contains(t, "int") && !strings.Contains(t, "interval") && !strings.Contains(t, "point")
}

// extraCols are the columns a batch reads after the bind column: the
// part columns, then the index columns.
func (p *plan) extraCols() []*column {
	var out []*column
	for i := range p.parts {
		out = append(out, &p.parts[i].col)
	}
	for i := range p.nidx {
		out = append(out, &p.nidx[i].col)
	}
	return out
}

// extraDest appends the scan destinations of p.extraCols for r.
func (p *plan) extraDest(dest []any, r *row) []any {
	if len(p.parts)+len(p.nidx) == 0 {
		return dest
	}
	r.parts = make([]cell, len(p.parts))
	r.nidx = make([]cell, len(p.nidx))
	for i := range r.parts {
		dest = append(dest, &r.parts[i])
	}
	for i := range r.nidx {
		dest = append(dest, &r.nidx[i])
	}
	return dest
}

// partValue returns part i's plaintext for r, decrypting it if it is a
// colcrypt value of one of the job's columns; nil for NULL. A row's own
// problem is a reason.
func (w *worker) partValue(ctx context.Context, r *row, tenant string, i int) ([]byte, string, error) {
	pc := &w.p.parts[i]
	c := r.parts[i]
	if !c.valid {
		return nil, "", nil
	}
	if pc.opener == nil {
		return c.b, "", nil
	}
	if !looksEncrypted(c.b) {
		if pc.encrypted {
			return nil, "column " + pc.col.Name + ": " + reasonNotEncrypted, nil
		}
		return c.b, "", nil
	}
	if _, _, err := parseStored(c.b); err != nil {
		return nil, "column " + pc.col.Name + ": " + reasonLookalike, nil
	}
	pt, err := w.opener(i).open(ctx, r, tenant, c.b)
	if err != nil {
		if err == errCold {
			return nil, "", err
		}
		if reason, ok := rowFailure(err); ok {
			return nil, "column " + pc.col.Name + ": " + reason, nil
		}
		return nil, "", err
	}
	return pt, "", nil
}

// opener returns w's opener of part column i: each worker has its own,
// with its own key cache, made from the plan's on first use.
func (w *worker) opener(i int) *worker {
	if w.openers == nil {
		w.openers = make([]*worker, len(w.p.parts))
	}
	if w.openers[i] == nil {
		w.openers[i] = &worker{m: w.m, p: w.p.parts[i].opener.p, dry: w.dry}
		w.openers[i].keys.noLoad = w.keys.noLoad
	}
	return w.openers[i]
}

// indexValues computes the named indexes of r from mainPT, the job's
// first column's plaintext, and its part columns: one value per index,
// nil where a part is NULL. lookup computes them as a lookup would,
// without creating the tenant's index key (dry runs and Verify); it
// returns errNoIndexKey for a tenant without one. A reason is a row's own
// problem (a part that does not open).
func (w *worker) indexValues(ctx context.Context, r *row, tenant string, mainPT []byte, lookup bool) ([][]byte, string, error) {
	p := w.p
	pts := make([][]byte, len(p.parts))
	have := make([]bool, len(p.parts))
	defer func() {
		for at, pt := range pts {
			// Only what was decrypted here: a plain part is the row's
			// own cell, which the compare-and-set still needs.
			if have[at] && p.parts[at].opener != nil && looksEncrypted(r.parts[at].b) {
				clear(pt)
			}
		}
	}()
	out := make([][]byte, len(p.nidx))
	for k, pi := range p.nidx {
		values := make([][]byte, len(pi.parts))
		null := false
		for i, at := range pi.parts {
			if at < 0 {
				values[i] = mainPT
			} else {
				if !have[at] {
					v, reason, err := w.partValue(ctx, r, tenant, at)
					if err != nil || reason != "" {
						return nil, reason, err
					}
					pts[at], have[at] = v, true
				}
				values[i] = pts[at]
			}
			if values[i] == nil {
				null = true
			}
		}
		if null {
			continue // an index over a NULL part is NULL
		}
		var (
			v   []byte
			err error
		)
		if lookup {
			var cands [][]byte
			if cands, err = w.m.enc.IndexCandidates(ctx, tenant, p.job.ScopeTable, pi.ix, values); err == nil {
				if len(cands) == 0 {
					return nil, "", errNoIndexKey
				}
				v = cands[0]
			}
		} else {
			v, err = w.m.enc.Index(ctx, tenant, p.job.ScopeTable, pi.ix, values)
		}
		if err != nil {
			if reason, ok := rowFailure(err); ok {
				return nil, reason, nil
			}
			return nil, "", fmt.Errorf("migrate: index %s: %w", pi.ix.Name, err)
		}
		out[k] = v
	}
	return out, "", nil
}

// indexesCurrent reports whether r's index columns hold vals.
func (w *worker) indexesCurrent(r *row, vals [][]byte) bool {
	for k, v := range vals {
		c := r.nidx[k]
		if v == nil {
			if c.valid {
				return false
			}
			continue
		}
		if !c.valid || !bytes.Equal(c.b, v) {
			return false
		}
	}
	return true
}

// keepIndexed decides a row whose value stays as it is (keep, written
// back under the compare-and-set like any write) but whose named indexes
// are computed from mainPT: a skip if they are already right, else a
// write of keep with them (and the blind index, which the write sets
// too).
func (w *worker) keepIndexed(ctx context.Context, r *row, tenant string, keep, mainPT []byte) (outcome, write, string, error) {
	fail := func(err error) (outcome, write, string, error) {
		if err == errCold {
			return outCold, write{}, "", nil
		}
		if reason, ok := rowFailure(err); ok {
			return outFail, write{}, reason, nil
		}
		return outFail, write{}, "", fmt.Errorf("migrate: %s row %s: %w", w.p.ti.Name, r.pkText, err)
	}
	if w.dry {
		vals, reason, err := w.indexValues(ctx, r, tenant, mainPT, true)
		switch {
		case errors.Is(err, errNoIndexKey):
			// The value a dry run's write would keep, for fits.
			return outWrite, write{r: r, val: keep}, "", nil
		case err != nil:
			return fail(err)
		case reason != "":
			return outFail, write{}, reason, nil
		case w.indexesCurrent(r, vals):
			return outSkip, write{}, "", nil
		}
		return outWrite, write{r: r, val: keep}, "", nil
	}
	// The active key's load prefetches the index keys outside the batch
	// transaction.
	h, err := w.key(ctx, keyRef{tenant: tenant})
	if err != nil {
		return fail(err)
	}
	vals, reason, err := w.indexValues(ctx, r, tenant, mainPT, false)
	switch {
	case err != nil:
		return fail(err)
	case reason != "":
		return outFail, write{}, reason, nil
	case w.indexesCurrent(r, vals):
		return outSkip, write{}, "", nil
	}
	wr := write{r: r, val: keep, nidx: vals}
	if b := w.p.job.BlindIndex; b != nil {
		if wr.bidx, err = h.BlindIndex(ctx, b, mainPT); err != nil {
			return outFail, write{}, "cannot index: " + err.Error(), nil
		}
	}
	return outWrite, wr, "", nil
}

// prefetchIndexKeys looks up (creating on first use) the tenant's index
// key of every named index, outside any batch transaction, so that a
// batch finds them cached.
func (w *worker) prefetchIndexKeys(ctx context.Context, tenant string) error {
	for _, pi := range w.p.nidx {
		s := fieldcore.Scope{Tenant: tenant, Table: w.p.job.ScopeTable}
		if err := w.m.enc.PrefetchIndexKey(ctx, s, nil, pi.ix); err != nil {
			return err
		}
	}
	return nil
}

// helpers are the workers w drives beside itself: its further columns'
// and its part openers, each with a key cache of its own.
func (w *worker) helpers() []*worker {
	out := append([]*worker(nil), w.subs...)
	for _, o := range w.openers {
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

// bytesArg binds an index value: nil as NULL.
func bytesArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// indexArg binds w's value of named index k: NULL for a write without
// named indexes' values (which a plan with them never makes) or a NULL
// index.
func indexArg(w write, k int) any {
	if k >= len(w.nidx) {
		return nil
	}
	return bytesArg(w.nidx[k])
}

// indexArray is the bytea[] of named index k's values of ws, at the
// places at gives (len n).
func indexArray(ws []write, k, n int, at func(i int) int) [][]byte {
	out := make([][]byte, n)
	for i := range ws {
		if k < len(ws[i].nidx) {
			out[at(i)] = ws[i].nidx[k]
		}
	}
	return out
}
