package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Run runs job until every row is done, or ctx is cancelled, or an error
// that is not about one row (the database or the KMS failing) stops it.
//
// Cancelling ctx stops each worker after the batch it is in commits, and
// returns an error matching ctx's error (context.Canceled or
// context.DeadlineExceeded); running the job again resumes it. A job the
// checkpoint records as done is not run again unless RunOptions.Restart
// is set: its column is re-checked (Result.Recheck), with ErrRowsFailed
// if rows need the job's work again.
//
// When the job finishes but some rows could not be migrated, Run returns
// the Result and an error matching ErrRowsFailed.
func (m *Migrator) Run(ctx context.Context, job Job, o RunOptions) (*Result, error) {
	if job.Kind == kindVerify {
		return nil, fmt.Errorf("%w: unknown job kind %q", ErrInvalidJob, job.Kind)
	}
	job, err := job.normalize()
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if o.BatchSize > maxBatchSize {
		return nil, fmt.Errorf("%w: batch size %d above %d", ErrInvalidJob, o.BatchSize, maxBatchSize)
	}
	p, err := newPlan(ctx, m.d, m.db, job)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	warns, err := m.preflight(ctx, p)
	if err != nil {
		return nil, err
	}
	more, err := m.planColumns(ctx, p)
	if err != nil {
		return nil, err
	}
	warns = append(warns, more...)
	if o.DryRun {
		cw, err := m.checkpointPreflight(ctx, p)
		if err != nil {
			return nil, err
		}
		res, err := m.dryRun(ctx, p, o, start)
		if res != nil {
			res.Warnings = append(warns, cw...)
		}
		return res, err
	}
	if err := m.CreateCheckpointTable(ctx); err != nil {
		return nil, err
	}
	h, err := m.startJob(ctx, p, o)
	if err != nil {
		return nil, err
	}
	if h.state == stateDone {
		res, err := m.recheck(ctx, p, o, start)
		if res != nil {
			res.Warnings = warns
		}
		return res, err
	}
	if err := m.takeOwnership(ctx, job.ID); err != nil {
		return nil, err
	}
	stopBeat := m.beat(ctx, job.ID)
	defer stopBeat() // on an early return; stopping twice is harmless

	before, err := m.Status(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	pr := &progress{o: o, jobID: job.ID, total: h.total, done: before.Scanned, start: start, metrics: m.tel.job(job.ID, job.Kind)}

	var lim *rate.Limiter
	if o.RowsPerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(o.RowsPerSecond), o.BatchSize)
	}
	pr.add(tally{}) // show the total before the first batch
	g, gctx := errgroup.WithContext(ctx)
	for range o.Workers {
		w := m.newWorker(p, false)
		g.Go(func() error { return w.loop(gctx, lim, o, pr) })
	}
	werr := g.Wait()
	stopBeat()

	res, err := m.finalResult(ctx, job, pr.thisRun(), start)
	if err != nil && werr == nil {
		werr = err
	}
	if res != nil {
		res.Warnings = warns
	}
	if werr != nil {
		if ctx.Err() != nil {
			m.recordStop(ctx, job.ID, werr, true)
			return res, fmt.Errorf("%w: %w", errInterrupted, ctx.Err())
		}
		m.recordStop(ctx, job.ID, werr, false)
		return res, werr
	}
	if res.Failed > 0 || res.Conflicts > 0 {
		return res, &rowsFailedError{Result: res}
	}
	return res, nil
}

// finalResult reads the job's totals from the checkpoint, and marks the
// job done if no chunk is pending.
func (m *Migrator) finalResult(ctx context.Context, job Job, thisRun int64, start time.Time) (*Result, error) {
	// Reading the checkpoint must work even after ctx was cancelled: the
	// caller wants to know where the job stopped.
	rctx := context.WithoutCancel(ctx)
	pending, err := m.pendingChunks(rctx, job.ID)
	if err != nil {
		return nil, err
	}
	if pending == 0 {
		if err := m.finish(rctx, job.ID); err != nil {
			return nil, err
		}
	}
	s, err := m.Status(rctx, job.ID)
	if err != nil {
		return nil, err
	}
	return &Result{
		JobID: job.ID, Kind: job.Kind, Done: pending == 0, Total: s.Total,
		Scanned: s.Scanned, Updated: s.Updated, Skipped: s.Skipped, Null: s.Null,
		Failed: s.Failed, Conflicts: s.Conflicts, Failures: s.Failures,
		Rereads: s.Rereads, Left: s.Left,
		ThisRun: thisRun, Duration: time.Since(start),
	}, nil
}

// pollInterval is how often a worker with no free chunk looks again while
// other workers (maybe in processes that could die) hold the rest.
const pollInterval = 100 * time.Millisecond

// loop runs batches until the job has no pending chunk.
func (w *worker) loop(ctx context.Context, lim *rate.Limiter, o RunOptions, pr *progress) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if lim != nil {
			if err := lim.WaitN(ctx, o.BatchSize); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// The wait would outlast ctx's deadline.
				return fmt.Errorf("migrate: rate limit: %w", err)
			}
		}
		// The batch itself is not cancelled by ctx: it commits or rolls
		// back whole, and a stop request takes effect after it.
		claimed, t, err := w.step(context.WithoutCancel(ctx), o)
		if err != nil {
			return err
		}
		if claimed {
			pr.add(t)
			continue
		}
		pending, err := w.m.pendingChunks(ctx, w.p.job.ID)
		if err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// Batch retries: for keys to load outside the transaction, and for
// transient database conflicts (deadlocks with the application, busy
// locks), with a growing, jittered pause.
const (
	maxColdRetries = 3
	maxTxRetries   = 8
	txRetryBase    = 20 * time.Millisecond
)

// step runs one batch, running it again when it met keys that must be
// loaded outside the transaction, or lost a deadlock.
func (w *worker) step(ctx context.Context, o RunOptions) (claimed bool, t tally, err error) {
	w.startBatch(ctx)
	cold, conflicts := 0, 0
	for {
		claimed, t, err = w.stepTx(ctx, o)
		switch {
		case err == errCold && cold < maxColdRetries:
			cold++
			w.warm(ctx)
		case err != nil && err != errCold && w.m.d.retryable(err) && conflicts < maxTxRetries:
			conflicts++
			time.Sleep(txRetryBase<<min(conflicts, 6) + time.Duration(rand.Int64N(int64(txRetryBase))))
		default:
			return claimed, t, err
		}
	}
}

// stepTx runs one batch transaction: claim a chunk, read the rows after
// its last key, transform and write them, advance the chunk, commit.
func (w *worker) stepTx(ctx context.Context, o RunOptions) (claimed bool, t tally, err error) {
	m := w.m
	tx, err := m.d.begin(ctx, m.db)
	if err != nil {
		return false, t, fmt.Errorf("migrate: begin batch: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	c, ok, err := m.claim(ctx, tx, w.p.job.ID)
	if err != nil || !ok {
		return false, t, err
	}
	w.setNoLoad(true)
	defer w.setNoLoad(false)
	lower := c.last
	if lower == nil {
		lower = c.lo
	}
	rows, t, failures, err := w.batch(ctx, tx, tx, lower, c.hi, o.BatchSize)
	if err != nil {
		return false, t, err
	}
	last := c.last
	if len(rows) > 0 {
		last = rows[len(rows)-1].pk
	}
	if err := m.advance(ctx, tx, w.p.job.ID, c, last, len(rows) < o.BatchSize, t, failures); err != nil {
		return false, t, err
	}
	if err := tx.Commit(); err != nil {
		return false, t, fmt.Errorf("migrate: commit batch: %w", err)
	}
	committed = true
	return true, t, nil
}

// read reads up to n rows with lo < pk <= hi (nil bounds are open).
func (w *worker) read(ctx context.Context, q querier, lo, hi any, n int) ([]row, error) {
	d := w.m.d
	var args []any
	if lo != nil {
		args = append(args, lo)
	}
	if hi != nil {
		args = append(args, hi)
	}
	args = append(args, n)
	rs, err := q.QueryContext(ctx, d.selectRows(w.p, lo != nil, hi != nil), args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", w.p.ti.Name, err)
	}
	return scanRows(d, w.p, rs, n)
}

// maxCASRounds bounds how often a batch re-reads rows whose
// compare-and-set lost to a concurrent write.
const maxCASRounds = 3

// testHookBeforeWrite, if set by a test, runs between a batch's read and
// its write: where a concurrent application write makes a
// compare-and-set lose. An error it returns fails the batch.
var testHookBeforeWrite func([]write) error

// process transforms and writes a batch's rows (or, for a dry run, only
// counts the writes), retrying rows that changed under it.
func (w *worker) process(ctx context.Context, tx txn, rows []row) (tally, []Failure, error) {
	var t tally
	var failures []Failure
	t.Scanned = int64(len(rows))
	err := w.processFrom(ctx, tx, rows, 0, &t, &failures)
	return t, failures, err
}

// processFrom runs the compare-and-set rounds of process from round on:
// round 0 with a batch's rows, later rounds with rows re-read after a
// lost compare-and-set.
func (w *worker) processFrom(ctx context.Context, tx txn, rows []row, round int, t *tally, failures *[]Failure) error {
	for ; len(rows) > 0; round++ {
		ws, err := w.decide(ctx, rows, t, failures)
		if err != nil {
			return err
		}
		if len(w.keys.cold) > 0 || w.anyCold() {
			return errCold
		}
		if len(ws) == 0 {
			break
		}
		if w.dry {
			t.Updated += int64(len(ws))
			break
		}
		if testHookBeforeWrite != nil {
			if err := testHookBeforeWrite(ws); err != nil {
				return err
			}
		}
		applied, err := w.m.d.write(ctx, tx, w.p, ws)
		if err != nil {
			return err
		}
		if rows, err = w.settle(ctx, tx, ws, applied, round, t, failures); err != nil {
			return err
		}
	}
	return nil
}

// decide transforms rows and returns the writes they need, counting the
// rows that need none in t and failures.
func (w *worker) decide(ctx context.Context, rows []row, t *tally, failures *[]Failure) ([]write, error) {
	var ws []write
	for i := range rows {
		r := &rows[i]
		out, wr, reason, err := w.transform(ctx, r)
		if err != nil {
			return nil, err
		}
		if out == outWrite && !w.fits(wr) {
			out, reason = outFail, fmt.Sprintf(reasonTooLong, w.p.dst.Name, w.p.dstMax)
		}
		switch out {
		case outWrite:
			ws = append(ws, wr)
		case outSkip:
			t.Skipped++
		case outNull:
			t.Null++
		case outFail:
			t.Failed++
			*failures = append(*failures, Failure{PK: r.pkText, Tenant: w.tenantText(r), Reason: reason})
		}
	}
	return ws, nil
}

// settle counts the writes of round that were applied and returns the
// rows whose compare-and-set was lost, read again, for the next round
// (none after the last round: those rows are given up and reported).
func (w *worker) settle(ctx context.Context, tx txn, ws []write, applied []bool, round int, t *tally, failures *[]Failure) ([]row, error) {
	var lost []any
	for i, ok := range applied {
		if ok {
			t.Updated++
		} else {
			lost = append(lost, ws[i].r.pk)
		}
	}
	if len(lost) == 0 {
		return nil, nil
	}
	if round+1 >= maxCASRounds {
		t.Conflicts += int64(len(lost))
		for i, ok := range applied {
			if !ok {
				*failures = append(*failures, Failure{PK: ws[i].r.pkText, Tenant: w.tenantText(ws[i].r), Reason: "kept changing under concurrent writes; rerun to retry"})
			}
		}
		return nil, nil
	}
	// The application wrote these rows after they were read: read them
	// again and redo whatever still needs doing. Rows deleted meanwhile
	// are not found and count as skipped.
	t.Rereads += int64(len(lost))
	q, args := w.m.d.selectByPK(w.p, lost)
	rs, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: re-read %s: %w", w.p.ti.Name, err)
	}
	rows, err := scanRows(w.m.d, w.p, rs, len(lost))
	if err != nil {
		return nil, err
	}
	t.Skipped += int64(len(lost) - len(rows))
	return rows, nil
}

// dryRun scans the whole table with one reader and no writes.
func (m *Migrator) dryRun(ctx context.Context, p *plan, o RunOptions, start time.Time) (*Result, error) {
	total, err := m.d.estimate(ctx, m.db, p)
	if err != nil {
		return nil, err
	}
	w := m.newWorker(p, true)
	pr := &progress{o: o, jobID: p.job.ID, total: total, start: start}
	var lim *rate.Limiter
	if o.RowsPerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(o.RowsPerSecond), o.BatchSize)
	}
	res := &Result{JobID: p.job.ID, Kind: p.job.Kind, DryRun: true, Total: total}
	var sum tally
	pr.add(tally{})
	var lower any
	for {
		if lim != nil {
			if err := lim.WaitN(ctx, o.BatchSize); err != nil {
				if ctx.Err() == nil {
					// The wait would outlast ctx's deadline.
					return res, fmt.Errorf("migrate: rate limit: %w", err)
				}
				return res, fmt.Errorf("%w: %w", errInterrupted, ctx.Err())
			}
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("%w: %w", errInterrupted, err)
		}
		w.startBatch(ctx)
		rows, t, failures, err := w.batch(ctx, m.db, nil, lower, nil, o.BatchSize)
		if err != nil {
			return res, err
		}
		sum.add(t)
		if n := maxReportFailures - len(res.Failures); n > 0 {
			res.Failures = append(res.Failures, failures[:min(n, len(failures))]...)
		}
		pr.add(t)
		if len(rows) < o.BatchSize {
			break
		}
		lower = rows[len(rows)-1].pk
	}
	res.Done = true
	res.Scanned, res.Updated, res.Skipped, res.Null, res.Failed, res.Conflicts = sum.Scanned, sum.Updated, sum.Skipped, sum.Null, sum.Failed, sum.Conflicts
	res.Left = sum.Failed + sum.Conflicts
	res.ThisRun = sum.Scanned
	res.Duration = time.Since(start)
	if res.Failed > 0 {
		return res, &rowsFailedError{Result: res}
	}
	return res, nil
}

// progress aggregates the workers' counts and calls the callback.
type progress struct {
	o     RunOptions
	jobID string
	total int64
	start time.Time

	mu    sync.Mutex
	done  int64 // job-wide, as of the start, plus this run
	local tally

	metrics *jobMetrics // nil in a dry run
}

func (p *progress) add(t tally) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += t.Scanned
	p.local.add(t)
	p.metrics.batch(t, p.done, p.total)
	if p.o.Progress != nil {
		p.o.Progress(Progress{JobID: p.jobID, Done: p.done, ThisRun: p.local.Scanned, Total: p.total, Updated: p.local.Updated, Failed: p.local.Failed, Elapsed: time.Since(p.start)})
	}
}

func (p *progress) thisRun() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.local.Scanned
}

// recheck is a run of a job the checkpoint records as done: it reads the
// column again, writing nothing, and reports what it found. Rows that
// need the job's work (plaintext written since, or a decrypt that undid
// an encrypt) make it a *finishedJobError naming the flag that starts the
// job again; a finished job is never reported done over them.
func (m *Migrator) recheck(ctx context.Context, p *plan, o RunOptions, start time.Time) (*Result, error) {
	scan, err := m.dryRun(ctx, p, o, start)
	if err != nil && !errors.Is(err, ErrRowsFailed) {
		return scan, err
	}
	res, err := m.finalResult(ctx, p.job, 0, start)
	if err != nil {
		return nil, err
	}
	res.Recheck = scan
	if scan.Updated > 0 {
		return res, &finishedJobError{Kind: p.job.Kind, Table: p.job.Table, Column: p.job.Column, Result: res}
	}
	if res.Failed > 0 || res.Conflicts > 0 {
		return res, &rowsFailedError{Result: res}
	}
	return res, nil
}
