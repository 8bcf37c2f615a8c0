package migrate

import (
	"errors"
	"fmt"
)

// The errors a caller branches on. Each wraps detail in its message;
// match with errors.Is. A stopped run matches its context's error instead
// (context.Canceled or context.DeadlineExceeded): the batch in flight was
// committed or rolled back whole, and running the job again resumes it.
var (
	// ErrInvalidJob is a Job that cannot run: fields that contradict
	// each other or miss something, or a job id an unfinished job of
	// other work holds. The message says which.
	ErrInvalidJob = errors.New("migrate: invalid job")
	// ErrSchema is a table that does not fit the job: no such table,
	// column or usable key column (a single-column primary key, or a
	// unique column named as the key), or a column whose type cannot play
	// its role (an integer column cannot hold ciphertext, say). The
	// message says which.
	ErrSchema = errors.New("migrate: the table does not fit the job")
	// ErrNoJob is returned by Status and Forget for a job id the
	// checkpoint table does not hold.
	ErrNoJob = errors.New("migrate: no such job")
	// ErrRowsFailed is returned, with the Result or Report, when a call
	// ran to its end but rows are not in the state it was for: Run left
	// rows it could not migrate (Result.Failures); a run of a job the
	// checkpoint records as done found rows that need the job's work
	// again (Result.Recheck: written since, or undone by another job; run
	// it with RunOptions.Restart); Verify found values that fail to open,
	// or plaintext where none is allowed (Report.Failures).
	ErrRowsFailed = errors.New("migrate: some rows could not be migrated")
)

// The detail of ErrInvalidJob and ErrRowsFailed, for the package's own
// tests and messages.
var (
	errNoTable            = &detailError{"migrate: no such table", ErrSchema}
	errNoColumn           = &detailError{"migrate: no such column", ErrSchema}
	errNoPrimaryKey       = &detailError{"migrate: no usable key column", ErrSchema}
	errUnsupportedColumn  = &detailError{"migrate: unsupported column type", ErrSchema}
	errJobMismatch        = &detailError{"migrate: job id already used for another job", ErrInvalidJob}
	errFinishedJobHasWork = errors.New("migrate: finished job has rows to do again")
	errVerifyFailed       = errors.New("migrate: verify found problems")
	errInterrupted        = errors.New("migrate: interrupted; rerun the job to resume")
)

// detailError is a detail of an exported sentinel: its own message,
// matching the sentinel.
type detailError struct {
	msg string
	of  error
}

func (e *detailError) Error() string        { return e.msg }
func (e *detailError) Is(target error) bool { return target == e.of }

// rowsFailedError carries the result of a job that left rows behind.
// It matches ErrRowsFailed.
type rowsFailedError struct{ Result *Result }

func (e *rowsFailedError) Error() string {
	return fmt.Sprintf("migrate: job %s: %d rows could not be migrated, %d kept changing under concurrent writes; see the failures, fix them, then run the job again with Restart (colcrypt: --restart)",
		e.Result.JobID, e.Result.Failed, e.Result.Conflicts)
}

func (e *rowsFailedError) Is(target error) bool { return target == ErrRowsFailed }

// finishedJobError carries the re-check of a finished job that found
// work. It matches ErrRowsFailed.
type finishedJobError struct {
	Kind          Kind
	Table, Column string
	Result        *Result
}

func (e *finishedJobError) Error() string {
	what := "still plaintext"
	switch e.Kind {
	case Decrypt:
		what = "still encrypted"
	case Reencrypt:
		what = "not on their tenant's active key version"
	case Reindex:
		what = "without the right blind index"
	case Index:
		what = "without the right named indexes"
	}
	rc := e.Result.Recheck
	return fmt.Sprintf("migrate: job %s finished earlier, but a re-check of %s.%s found %d of %d rows %s; run it again from the start with Restart (colcrypt: --restart)",
		e.Result.JobID, e.Table, e.Column, rc.Updated, rc.Scanned, what)
}

func (e *finishedJobError) Is(target error) bool {
	return target == errFinishedJobHasWork || target == ErrRowsFailed
}

// verifyError carries the report of a failed verification. It matches
// ErrRowsFailed.
type verifyError struct{ Report *Report }

func (e *verifyError) Error() string {
	r := e.Report
	return fmt.Sprintf("migrate: verify %s.%s: %d failing, %d plaintext, %d blind index mismatches, %d named index mismatches of %d rows",
		r.Table, r.Column, r.Failed, r.Plaintext, r.BlindIndexMismatch, r.IndexMismatch, r.Rows)
}

func (e *verifyError) Is(target error) bool {
	return target == errVerifyFailed || target == ErrRowsFailed
}

// Failure names a row that could not be migrated or verified. Reason
// never holds a value's bytes.
type Failure struct {
	PK     string `json:"pk"`
	Tenant string `json:"tenant,omitempty"`
	Reason string `json:"reason"`
}
