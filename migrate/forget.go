package migrate

import (
	"context"
	"errors"
	"fmt"
)

// ErrJobRunning is returned by Forget for a job a process is running (its
// heartbeat is recent): forgetting it under a live process would let that
// process write chunk rows of a job nobody records.
var ErrJobRunning = errors.New("migrate: job is running")

// Forget removes a job from the checkpoint table: its header and every
// chunk row, in one statement, so a later run of the same job id plans
// afresh instead of tripping over chunk rows left behind. It touches no
// data: rows the job already migrated stay migrated, and a new run skips
// them. A running job (fresh heartbeat) is refused with ErrJobRunning;
// stop it first, or wait until Status reports it stalled. ErrNoJob if the
// checkpoint table holds no row of the job.
func (m *Migrator) Forget(ctx context.Context, jobID string) error {
	if !m.checkpointExists(ctx) {
		return fmt.Errorf("%w: %q in %s", ErrNoJob, jobID, m.ckpt)
	}
	s, err := m.Status(ctx, jobID)
	switch {
	case errors.Is(err, ErrNoJob):
		// Chunk rows without a header (deleted by hand) are removed too.
	case err != nil:
		return err
	case s.State == stateRunning:
		return fmt.Errorf("%w: %q (owner %s, last heartbeat %s); stop it first, or wait until its status is stalled",
			ErrJobRunning, jobID, s.Owner, s.Heartbeat.UTC().Format("2006-01-02T15:04:05Z"))
	}
	res, err := m.db.ExecContext(ctx, "DELETE FROM "+quoteTable(m.d, m.ckpt)+" WHERE job_id = "+m.d.ph(1), jobID)
	if err != nil {
		return fmt.Errorf("migrate: forget %q: %w", jobID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%w: %q in %s", ErrNoJob, jobID, m.ckpt)
	}
	return nil
}
