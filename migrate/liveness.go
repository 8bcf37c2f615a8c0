package migrate

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A job's liveness lives in its header row: the owner ("host:pid" of the
// process that last started it or beat for it), a heartbeat timestamp a
// running process refreshes every heartbeat interval, and the error that
// stopped its last run. From them Status tells the states an operator
// needs apart:
//
//   - running: a process beat within the stale-after window;
//   - stalled: unfinished, and no process beat for longer (killed, or
//     stopped with Ctrl-C; running the job again resumes it);
//   - failed: the last run stopped on an error (recorded; a rerun resumes);
//   - done: every chunk finished.
const (
	// stateFailed is the header state of a job whose last run stopped
	// on an error that was not about one row.
	stateFailed = "failed"
	// stateStalled is reported, never stored: running without a recent
	// heartbeat.
	stateStalled = "stalled"
)

// Heartbeat defaults: a running process beats every 5 s; a job is stalled
// after 30 s without a beat (six missed beats: a loaded database does not
// make a live job look dead).
const (
	defaultHeartbeatInterval = 5 * time.Second
	defaultStaleAfter        = 30 * time.Second
)

// WithHeartbeat sets how often a running job refreshes its heartbeat
// (default 5 s) and after how long without one Status reports it stalled
// (default 30 s). staleAfter should be several intervals: clocks of the
// hosts running a job are compared.
func WithHeartbeat(interval, staleAfter time.Duration) Option {
	return func(m *Migrator) {
		if interval > 0 {
			m.beatEvery = interval
		}
		if staleAfter > 0 {
			m.staleAfter = staleAfter
		}
	}
}

// ownerName is this process as an owner: "host:pid".
func ownerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// takeOwnership records this process as the job's owner and beats once;
// a failed job becomes running again (the run resumes it).
func (m *Migrator) takeOwnership(ctx context.Context, jobID string) error {
	ph := m.d.ph
	now := m.d.timeArg(time.Now())
	_, err := m.db.ExecContext(ctx, "UPDATE "+quoteTable(m.d, m.ckpt)+" SET owner = "+ph(1)+", heartbeat_at = "+ph(2)+
		", error = '', state = CASE WHEN state = '"+stateDone+"' THEN state ELSE '"+stateRunning+"' END WHERE job_id = "+ph(3)+" AND chunk = 0",
		ownerName(), now, jobID)
	if err != nil {
		return fmt.Errorf("migrate: checkpoint: %w", err)
	}
	return nil
}

// beat refreshes the heartbeat until stop is called. A failed beat is not
// fatal: the batches report the database's state; a job that cannot beat
// shows as stalled, which is what an operator should then look at.
func (m *Migrator) beat(ctx context.Context, jobID string) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(m.beatEvery)
		defer t.Stop()
		q := "UPDATE " + quoteTable(m.d, m.ckpt) + " SET owner = " + m.d.ph(1) + ", heartbeat_at = " + m.d.ph(2) +
			" WHERE job_id = " + m.d.ph(3) + " AND chunk = 0 AND state = '" + stateRunning + "'"
		owner := ownerName()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.db.ExecContext(ctx, q, owner, m.d.timeArg(time.Now()), jobID)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// recordStop records why a run stopped. An error that is not about one
// row marks the job failed with its message (which names tables, columns
// and keys, never a value); an interrupted run clears the heartbeat so
// Status shows the job stalled at once, with "interrupted" as its error.
func (m *Migrator) recordStop(ctx context.Context, jobID string, runErr error, interrupted bool) {
	ctx = context.WithoutCancel(ctx)
	ph := m.d.ph
	tbl := quoteTable(m.d, m.ckpt)
	if interrupted {
		m.db.ExecContext(ctx, "UPDATE "+tbl+" SET heartbeat_at = NULL, error = "+ph(1)+
			" WHERE job_id = "+ph(2)+" AND chunk = 0 AND state = '"+stateRunning+"'", "interrupted", jobID)
		return
	}
	msg := redactError(runErr.Error())
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	m.db.ExecContext(ctx, "UPDATE "+tbl+" SET state = '"+stateFailed+"', heartbeat_at = NULL, error = "+ph(1)+", updated_at = "+ph(2)+
		" WHERE job_id = "+ph(3)+" AND chunk = 0 AND state <> '"+stateDone+"'", msg, m.d.timeArg(time.Now()), jobID)
}

// redactError drops the one value a database error message quotes:
// MySQL's "Duplicate entry '<value>' for key", which for a decrypt into a
// unique column would be plaintext. The error text is stored in the
// checkpoint table, where it outlives the run.
func redactError(msg string) string {
	const dup = "Duplicate entry '"
	i := strings.Index(msg, dup)
	if i < 0 {
		return msg
	}
	rest := msg[i+len(dup):]
	j := strings.LastIndex(rest, "' for key")
	if j < 0 {
		return msg[:i] + "Duplicate entry (value not shown)"
	}
	return msg[:i] + "Duplicate entry (value not shown)" + rest[j+1:]
}

// maxErrorText bounds the error text a header keeps.
const maxErrorText = 2000

// liveState is the state Status reports for a stored state and heartbeat.
func (m *Migrator) liveState(stored string, heartbeat nullTime, now time.Time) string {
	if stored != stateRunning {
		return stored
	}
	if !heartbeat.valid || now.Sub(heartbeat.t) > m.staleAfter {
		return stateStalled
	}
	return stateRunning
}
