package migrate

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// Checks made before a run writes anything, and again by a dry run: what
// a real run would otherwise find out half-way, one failing statement at
// a time (a varchar too narrow for the sealed value), or what an operator
// should know before the first batch (triggers firing on every update).

// reasonTooLong is a row whose new value does not fit the target column.
// It names the column's limit, never the value or its length.
const reasonTooLong = "the new value does not fit the target column (%s holds at most %d characters): widen the column, or write into a bytea/BLOB or text column (--to-column)"

// columnLimits is what a column accepts beyond its type class.
type columnLimits struct {
	// maxLen is the declared length of a varchar/char/varbinary column, in
	// characters (bytes for binary types); 0 is unbounded.
	maxLen int64
	// notNull and hasDefault: the column's NOT NULL and DEFAULT.
	notNull, hasDefault bool
}

// readColumnLimits reads table.col's declared length and nullability.
func readColumnLimits(ctx context.Context, d dialect, q querier, table, col string) (columnLimits, error) {
	var l columnLimits
	var err error
	l.maxLen, l.notNull, l.hasDefault, err = d.sql().ColumnLimits(ctx, q, table, col)
	if err != nil {
		return l, fmt.Errorf("migrate: describe %s.%s: %w", table, col, err)
	}
	return l, nil
}

// countTriggers counts the triggers that fire on UPDATE of table.
func countTriggers(ctx context.Context, d dialect, q querier, table string) (int, error) {
	n, err := d.sql().UpdateTriggers(ctx, q, table)
	if err != nil {
		return 0, fmt.Errorf("migrate: triggers of %s: %w", table, err)
	}
	return n, nil
}

// preflight identifies the table, reads the target column's limits into
// p, and returns warnings about what the run will meet.
func (m *Migrator) preflight(ctx context.Context, p *plan) ([]string, error) {
	var err error
	if p.ident, err = tableIdent(ctx, m.d, m.db, p.job.Table); err != nil {
		return nil, err
	}
	lim, err := readColumnLimits(ctx, m.d, m.db, p.job.Table, p.dst.Name)
	if err != nil {
		return nil, err
	}
	p.dstMax = lim.maxLen
	var warns []string
	if lim.notNull && !p.inPlace && lim.hasDefault {
		warns = append(warns, fmt.Sprintf("target column %s is NOT NULL with a default: rows already holding the default are not overwritten and fail as \"target column holds a value\"; make it nullable (and default NULL) before the run", p.dst.Name))
	}
	n, err := countTriggers(ctx, m.d, m.db, p.job.Table)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		warns = append(warns, fmt.Sprintf("table %s has %d UPDATE trigger(s): they fire for every migrated row", p.job.Table, n))
	}
	return warns, nil
}

// fits reports whether wr's value fits the target column. A dry run,
// which does not seal, predicts the sealed length instead.
func (w *worker) fits(wr write) bool {
	p := w.p
	if p.dstMax <= 0 {
		return true
	}
	var n int
	switch {
	case wr.val != nil && p.dstText:
		n = utf8.RuneCount(wr.val)
	case wr.val != nil:
		n = len(wr.val)
	case p.job.Kind == Encrypt:
		alg := codec.AESGCM
		if p.job.Mode == field.Deterministic {
			alg = codec.AESSIV
		}
		n = len(wr.r.src.b) + codec.Overhead(alg, 1)
		if p.armor {
			n = len(codec.ArmorPrefix) + base64.RawStdEncoding.EncodedLen(n)
		}
	default:
		// Reencrypt keeps a value's size (within a byte of its header).
		n = len(wr.r.src.b)
	}
	return int64(n) <= p.dstMax
}

// checkpointPreflight is the dry run's look at the checkpoint table,
// read-only: an unfinished job of another description under the id is
// the errJobMismatch the real run would stop on.
func (m *Migrator) checkpointPreflight(ctx context.Context, p *plan) ([]string, error) {
	if !m.checkpointExists(ctx) {
		return []string{fmt.Sprintf("checkpoint table %s does not exist yet: the run creates it (it needs the CREATE privilege)", m.ckpt)}, nil
	}
	var spec, state string
	err := m.db.QueryRowContext(ctx, "SELECT spec, state FROM "+quoteTable(m.d, m.ckpt)+" WHERE job_id = "+m.d.ph(1)+" AND chunk = 0", p.job.ID).Scan(&spec, &state)
	switch {
	case err == sql.ErrNoRows:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	case state != stateDone && spec != p.job.specJSON():
		return nil, fmt.Errorf("%w: unfinished job %q in %s is %s, not %s; finish it, forget it (Forget; colcrypt: migrate forget), or pick another job id", errJobMismatch, p.job.ID, m.ckpt, spec, p.job.specJSON())
	case state == stateDone:
		return []string{fmt.Sprintf("job %s is recorded as done: a run re-checks the column and writes nothing; with Restart (--restart) it runs again from the start", p.job.ID)}, nil
	}
	return []string{fmt.Sprintf("job %s is recorded as unfinished (%s): a run resumes it", p.job.ID, state)}, nil
}
