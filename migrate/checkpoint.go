package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// defaultCheckpointTable is the table that records jobs' progress.
const defaultCheckpointTable = "colcrypt_migrations"

// The checkpoint table holds, per job, one header row (chunk 0: the job's
// description, state and row estimate) and one row per chunk of the key
// range (lo exclusive, hi inclusive, NULL for unbounded; last_pk is where
// the chunk's committed batches got to, its counters and failures).
//
// A batch is one transaction: lock a pending chunk row, read the rows
// after last_pk, write them, advance last_pk, commit. So a crash loses at
// most the batch in flight, which left no trace, and any process can
// continue any chunk.
const (
	stateRunning = "running"
	statePending = "pending"
	stateDone    = "done"
)

// CreateCheckpointTable creates the checkpoint table if it does not exist.
// Run calls it; it is exported for schema-migration tools that create
// tables ahead of time.
func (m *Migrator) CreateCheckpointTable(ctx context.Context) error {
	for _, stmt := range m.d.checkpointDDL(m.ckpt) {
		if _, err := m.db.ExecContext(ctx, stmt); err != nil {
			// Two processes racing on CREATE TABLE IF NOT EXISTS can see a
			// unique violation in the catalog; the table then exists.
			if m.checkpointExists(ctx) {
				continue
			}
			return fmt.Errorf("migrate: create checkpoint table %s: %w", m.ckpt, err)
		}
	}
	return m.upgradeCheckpointTable(ctx)
}

func (m *Migrator) checkpointExists(ctx context.Context) bool {
	var n int
	return m.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteTable(m.d, m.ckpt)+" WHERE 1 = 0").Scan(&n) == nil
}

// chunk is one chunk row, claimed by a batch.
type chunk struct {
	n        int
	lo, hi   any // nil: unbounded
	last     any // nil: nothing done yet
	failures []Failure
}

// tally counts what happened to rows.
type tally struct {
	Scanned, Updated, Skipped, Null, Failed, Conflicts int64
	// Rereads are rows read again after their compare-and-set lost to a
	// concurrent write (each round counts).
	Rereads int64
}

func (t *tally) add(o tally) {
	t.Scanned += o.Scanned
	t.Updated += o.Updated
	t.Skipped += o.Skipped
	t.Null += o.Null
	t.Failed += o.Failed
	t.Conflicts += o.Conflicts
	t.Rereads += o.Rereads
}

// header is a job's chunk-0 row.
type header struct {
	spec  string
	state string
	total int64
}

// startJob records the job and its chunks, or finds them recorded by an
// earlier run or another process. The header insert is the arbiter: of
// processes starting one job together, one inserts it and plans the
// chunks in the same transaction; the others' inserts wait for that
// transaction and then do nothing.
func (m *Migrator) startJob(ctx context.Context, p *plan, o RunOptions) (*header, error) {
	tbl := quoteTable(m.d, m.ckpt)
	ph := m.d.ph
	job := p.job
	spec := job.specJSON()
	for attempt := 0; ; attempt++ {
		tx, err := m.d.begin(ctx, m.db)
		if err != nil {
			return nil, fmt.Errorf("migrate: checkpoint: %w", err)
		}
		h, err := m.startJobTx(ctx, tx, p, o, tbl, ph, spec)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		if h == nil {
			// A finished job restarted: its rows were deleted, plan again.
			if err := tx.Commit(); err != nil {
				return nil, fmt.Errorf("migrate: checkpoint: %w", err)
			}
			if attempt > 0 {
				return nil, errors.New("migrate: checkpoint: job restarted twice concurrently")
			}
			continue
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("migrate: checkpoint: %w", err)
		}
		return h, nil
	}
}

func (m *Migrator) startJobTx(ctx context.Context, tx txn, p *plan, o RunOptions, tbl string, ph func(int) string, spec string) (*header, error) {
	job := p.job
	now := m.d.timeArg(time.Now())
	res, err := tx.ExecContext(ctx, "INSERT INTO "+tbl+" (job_id, chunk, kind, table_name, column_name, spec, state, updated_at, table_ident) VALUES ("+
		ph(1)+", 0, "+ph(2)+", "+ph(3)+", "+ph(4)+", "+ph(5)+", '"+stateRunning+"', "+ph(6)+", "+ph(7)+")"+m.d.onConflictDoNothing(),
		job.ID, string(job.Kind), job.Table, job.Column, spec, now, p.ident)
	var inserted int64
	switch {
	case err != nil && m.d.duplicate(err):
		// Another process recorded the job first (MySQL; a duplicate-key
		// error ends the statement, not the transaction).
	case err != nil:
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	default:
		if inserted, err = res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("migrate: checkpoint: %w", err)
		}
	}
	if inserted == 0 {
		h := &header{}
		var ident string
		err := tx.QueryRowContext(ctx, "SELECT spec, state, total, table_ident FROM "+tbl+" WHERE job_id = "+ph(1)+" AND chunk = 0", job.ID).Scan(&h.spec, &h.state, &h.total, &ident)
		if err != nil {
			return nil, fmt.Errorf("migrate: checkpoint: %w", err)
		}
		switch {
		case sameIdentKind(ident, p.ident) && ident != p.ident:
			// The table was dropped and created again: the recorded job,
			// finished or not, was about rows that no longer exist.
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+tbl+" WHERE job_id = "+ph(1), job.ID); err != nil {
				return nil, fmt.Errorf("migrate: checkpoint: %w", err)
			}
			return nil, nil
		case ident == "" && p.ident != "":
			// Recorded before tables were identified: adopt this one.
			if _, err := tx.ExecContext(ctx, "UPDATE "+tbl+" SET table_ident = "+ph(1)+" WHERE job_id = "+ph(2)+" AND chunk = 0", p.ident, job.ID); err != nil {
				return nil, fmt.Errorf("migrate: checkpoint: %w", err)
			}
		}
		if h.spec != spec && h.state != stateDone {
			return nil, fmt.Errorf("%w: unfinished job %q in %s is %s, not %s; finish it, forget it (Forget; colcrypt: migrate forget), or pick another job id", errJobMismatch, job.ID, m.ckpt, h.spec, spec)
		}
		// A finished job is run again when asked to, or replaced by
		// different work under its id.
		if h.state == stateDone && (o.Restart || h.spec != spec) {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+tbl+" WHERE job_id = "+ph(1), job.ID); err != nil {
				return nil, fmt.Errorf("migrate: checkpoint: %w", err)
			}
			return nil, nil
		}
		return h, nil
	}

	// Plan the chunks.
	total, err := m.d.estimate(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	bounds, err := m.d.boundaries(ctx, tx, p, total, chunkCount(total, o))
	if err != nil {
		return nil, err
	}
	// Chunk rows of the id without a header (deleted by hand, the way an
	// older MIGRATING.md suggested) belong to no job: this transaction
	// inserted the header, so it owns the id's chunks.
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+tbl+" WHERE job_id = "+ph(1)+" AND chunk > 0", job.ID); err != nil {
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	}
	ins := "INSERT INTO " + tbl + " (job_id, chunk, lo, hi, state, updated_at) VALUES (" + ph(1) + ", " + ph(2) + ", " + ph(3) + ", " + ph(4) + ", '" + statePending + "', " + ph(5) + ")"
	var lo any
	for i := 0; i <= len(bounds); i++ {
		var hi any
		if i < len(bounds) {
			hi = bounds[i]
		}
		if _, err := tx.ExecContext(ctx, ins, job.ID, i+1, lo, hi, now); err != nil {
			return nil, fmt.Errorf("migrate: checkpoint: %w", err)
		}
		lo = hi
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+tbl+" SET total = "+ph(1)+" WHERE job_id = "+ph(2)+" AND chunk = 0", total, job.ID); err != nil {
		return nil, fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return &header{spec: spec, state: stateRunning, total: total}, nil
}

// chunkCount decides how many chunks a job of total rows gets: ChunkRows
// each if set; else about ten batches each, but at least 16 when the
// table has more than 16 batches, so several workers (in several
// processes) can share it. At most 4096.
func chunkCount(total int64, o RunOptions) int {
	var n int64
	if per := int64(o.ChunkRows); per > 0 {
		n = (total + per - 1) / per
	} else {
		per = int64(o.BatchSize) * 10
		n = (total + per - 1) / per
		if n < 16 && total > 16*int64(o.BatchSize) {
			n = 16
		}
	}
	return int(max(1, min(n, 4096)))
}

// claim locks one pending chunk of the job inside tx; ok is false when
// none is free (all done, or all held by other workers).
func (m *Migrator) claim(ctx context.Context, tx txn, jobID string) (c chunk, ok bool, err error) {
	var failures string
	err = tx.QueryRowContext(ctx, m.d.claimChunk(m.ckpt), jobID).Scan(&c.n, &c.lo, &c.hi, &c.last, &failures)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("migrate: claim chunk: %w", err)
	}
	if failures != "" {
		if err := json.Unmarshal([]byte(failures), &c.failures); err != nil {
			return c, false, fmt.Errorf("migrate: checkpoint failures of chunk %d: %w", c.n, err)
		}
	}
	return c, true, nil
}

// maxChunkFailures bounds the failures a chunk row keeps.
const maxChunkFailures = 20

// advance records a committed batch on its chunk.
func (m *Migrator) advance(ctx context.Context, tx txn, jobID string, c chunk, last any, done bool, t tally, failures []Failure) error {
	ph := m.d.ph
	state := statePending
	if done {
		state = stateDone
	}
	fs := append(c.failures, failures...)
	if len(fs) > maxChunkFailures {
		fs = fs[:maxChunkFailures]
	}
	var fj string
	if len(fs) > 0 {
		b, err := json.Marshal(fs)
		if err != nil {
			return err
		}
		fj = string(b)
	}
	_, err := tx.ExecContext(ctx, "UPDATE "+quoteTable(m.d, m.ckpt)+" SET last_pk = "+ph(1)+", state = "+ph(2)+
		", scanned = scanned + "+ph(3)+", updated = updated + "+ph(4)+", skipped = skipped + "+ph(5)+
		", nulls = nulls + "+ph(6)+", failed = failed + "+ph(7)+", conflicts = conflicts + "+ph(8)+
		", failures = "+ph(9)+", updated_at = "+ph(10)+", rereads = rereads + "+ph(11)+" WHERE job_id = "+ph(12)+" AND chunk = "+ph(13),
		last, state, t.Scanned, t.Updated, t.Skipped, t.Null, t.Failed, t.Conflicts, fj, m.d.timeArg(time.Now()), t.Rereads, jobID, c.n)
	if err != nil {
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return nil
}

// Status is a job's progress as the checkpoint table records it.
type Status struct {
	JobID  string `json:"job_id"`
	Kind   Kind   `json:"kind"`
	Table  string `json:"table"`
	Column string `json:"column"`
	// State is running (a process beat recently), stalled (unfinished,
	// no heartbeat for the stale-after window: killed or interrupted),
	// failed (the last run stopped on Error) or done.
	State string `json:"state"`
	// Owner is "host:pid" of the process that last started or beat for
	// the job; Heartbeat is its last beat (zero when none is current).
	Owner     string    `json:"owner,omitempty"`
	Heartbeat time.Time `json:"heartbeat,omitzero"`
	// Error is what stopped the last run: "interrupted", or the error of
	// a failed run.
	Error string `json:"error,omitempty"`
	// Rereads are rows read again after a lost compare-and-set; Left are
	// rows left as they were (Failed plus Conflicts).
	Rereads    int64     `json:"rereads"`
	Left       int64     `json:"left_behind"`
	Total      int64     `json:"total_estimate"`
	Chunks     int       `json:"chunks"`
	ChunksDone int       `json:"chunks_done"`
	Scanned    int64     `json:"scanned"`
	Updated    int64     `json:"updated"`
	Skipped    int64     `json:"skipped"`
	Null       int64     `json:"null"`
	Failed     int64     `json:"failed"`
	Conflicts  int64     `json:"conflicts"`
	Failures   []Failure `json:"failures,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
	Spec       string    `json:"spec"`
}

// Status returns the recorded progress of one job: ErrNoJob if the
// checkpoint table has no such job.
func (m *Migrator) Status(ctx context.Context, jobID string) (*Status, error) {
	all, err := m.statuses(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %q in %s", ErrNoJob, jobID, m.ckpt)
	}
	return &all[0], nil
}

// Jobs returns the recorded progress of every job, newest first. A
// missing checkpoint table means no jobs.
func (m *Migrator) Jobs(ctx context.Context) ([]Status, error) {
	if !m.checkpointExists(ctx) {
		return nil, nil
	}
	return m.statuses(ctx, "")
}

func (m *Migrator) statuses(ctx context.Context, jobID string) ([]Status, error) {
	// A table an older version created lacks the liveness columns.
	if err := m.upgradeCheckpointTable(ctx); err != nil {
		return nil, err
	}
	tbl := quoteTable(m.d, m.ckpt)
	q := `SELECT h.job_id, h.kind, h.table_name, h.column_name, h.state, h.total, h.spec, h.updated_at,
  h.owner, h.heartbeat_at, h.error,
  count(c.chunk), coalesce(sum(CASE WHEN c.state = 'done' THEN 1 ELSE 0 END), 0),
  coalesce(sum(c.scanned), 0), coalesce(sum(c.updated), 0), coalesce(sum(c.skipped), 0),
  coalesce(sum(c.nulls), 0), coalesce(sum(c.failed), 0), coalesce(sum(c.conflicts), 0),
  coalesce(sum(c.rereads), 0), max(c.updated_at)
FROM ` + tbl + ` h LEFT JOIN ` + tbl + ` c ON c.job_id = h.job_id AND c.chunk > 0
WHERE h.chunk = 0`
	var args []any
	if jobID != "" {
		q += " AND h.job_id = " + m.d.ph(1)
		args = append(args, jobID)
	}
	q += " GROUP BY h.job_id, h.kind, h.table_name, h.column_name, h.state, h.total, h.spec, h.updated_at, h.owner, h.heartbeat_at, h.error ORDER BY h.updated_at DESC, h.job_id"
	rows, err := m.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var s Status
		var kind string
		var hAt, cAt, beat nullTime
		if err := rows.Scan(&s.JobID, &kind, &s.Table, &s.Column, &s.State, &s.Total, &s.Spec, &hAt,
			&s.Owner, &beat, &s.Error,
			&s.Chunks, &s.ChunksDone, &s.Scanned, &s.Updated, &s.Skipped, &s.Null, &s.Failed, &s.Conflicts, &s.Rereads, &cAt); err != nil {
			return nil, fmt.Errorf("migrate: status: %w", err)
		}
		s.Kind = Kind(kind)
		s.State = m.liveState(s.State, beat, time.Now())
		if beat.valid {
			s.Heartbeat = beat.t
		}
		s.Left = s.Failed + s.Conflicts
		s.UpdatedAt = hAt.t
		if cAt.valid && cAt.t.After(hAt.t) {
			s.UpdatedAt = cAt.t
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	for i := range out {
		fs, err := m.failures(ctx, out[i].JobID, maxReportFailures)
		if err != nil {
			return nil, err
		}
		out[i].Failures = fs
	}
	return out, nil
}

// failures collects up to limit recorded failures of a job, in chunk order.
func (m *Migrator) failures(ctx context.Context, jobID string, limit int) ([]Failure, error) {
	rows, err := m.db.QueryContext(ctx, "SELECT failures FROM "+quoteTable(m.d, m.ckpt)+
		" WHERE job_id = "+m.d.ph(1)+" AND chunk > 0 AND failures <> '' ORDER BY chunk", jobID)
	if err != nil {
		return nil, fmt.Errorf("migrate: status: %w", err)
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() && len(out) < limit {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("migrate: status: %w", err)
		}
		var fs []Failure
		if err := json.Unmarshal([]byte(s), &fs); err != nil {
			return nil, fmt.Errorf("migrate: status: %w", err)
		}
		out = append(out, fs...)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, rows.Err()
}

// pendingChunks counts a job's unfinished chunks.
func (m *Migrator) pendingChunks(ctx context.Context, jobID string) (int, error) {
	var n int
	err := m.db.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteTable(m.d, m.ckpt)+
		" WHERE job_id = "+m.d.ph(1)+" AND chunk > 0 AND state <> 'done'", jobID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return n, nil
}

// finish marks the job done once no chunk is pending.
func (m *Migrator) finish(ctx context.Context, jobID string) error {
	_, err := m.db.ExecContext(ctx, "UPDATE "+quoteTable(m.d, m.ckpt)+" SET state = '"+stateDone+"', updated_at = "+m.d.ph(1)+
		" WHERE job_id = "+m.d.ph(2)+" AND chunk = 0", m.d.timeArg(time.Now()), jobID)
	if err != nil {
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return nil
}

// mysqlTimeLayout is a DATETIME as MySQL returns it without parseTime.
const mysqlTimeLayout = "2006-01-02 15:04:05.999999"

// nullTime scans a possibly NULL timestamp that SQLite, or MySQL without
// parseTime, returns as text.
type nullTime struct {
	t     time.Time
	valid bool
}

func (n *nullTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.valid = false
	case time.Time:
		n.t, n.valid = v, true
	case string:
		return n.parse(v)
	case []byte:
		return n.parse(string(v))
	default:
		return fmt.Errorf("migrate: timestamp of type %T", src)
	}
	return nil
}

func (n *nullTime) parse(s string) error {
	for _, layout := range []string{sqldialect.SQLiteTimeLayout, time.RFC3339Nano, mysqlTimeLayout} {
		if t, err := time.Parse(layout, s); err == nil {
			n.t, n.valid = t, true
			return nil
		}
	}
	return fmt.Errorf("migrate: cannot parse timestamp %q", s)
}
