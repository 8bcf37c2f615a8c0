package migrate

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidJob is a Job whose fields contradict each other or miss
	// something.
	ErrInvalidJob = errors.New("migrate: invalid job")
	// ErrNoTable is returned for a table the catalog does not know.
	ErrNoTable = errors.New("migrate: no such table")
	// ErrNoColumn is returned for a column the table does not have.
	ErrNoColumn = errors.New("migrate: no such column")
	// ErrNoPrimaryKey is returned for a table without a single-column
	// primary key when no key column was named, or for a named key column
	// that is not unique.
	ErrNoPrimaryKey = errors.New("migrate: no usable key column")
	// ErrUnsupportedColumn is a column whose type cannot play its role
	// (an integer column cannot hold ciphertext, say).
	ErrUnsupportedColumn = errors.New("migrate: unsupported column type")
	// ErrJobMismatch is returned when an unfinished job in the checkpoint
	// table has the same id but describes other work (another column,
	// mode, tenant source…). A finished job's id may be reused.
	ErrJobMismatch = errors.New("migrate: job id already used for another job")
	// ErrFinishedJobHasWork is returned (as a *FinishedJobError) when a
	// job the checkpoint records as done is run again without Restart and
	// the re-check of its column finds rows that need the job's work:
	// written since, or undone by another job (a decrypt after an
	// encrypt). Never "done" over such a column.
	ErrFinishedJobHasWork = errors.New("migrate: finished job has rows to do again")
	// ErrNoJob is returned by Status for a job id the checkpoint table
	// does not hold.
	ErrNoJob = errors.New("migrate: no such job")
	// ErrInterrupted is returned when the context was cancelled: the
	// batch in flight was committed or rolled back whole, and a rerun of
	// the job resumes from the checkpoint.
	ErrInterrupted = errors.New("migrate: interrupted; rerun the job to resume")
	// ErrRowsFailed is returned (as a *RowsFailedError) when a job
	// finished but left rows it could not migrate.
	ErrRowsFailed = errors.New("migrate: some rows could not be migrated")
	// ErrVerifyFailed is returned (as a *VerifyError) when Verify found
	// values that fail to open, or plaintext where none is allowed.
	ErrVerifyFailed = errors.New("migrate: verify found problems")
)

// RowsFailedError carries the result of a job that left rows behind.
// It matches ErrRowsFailed.
type RowsFailedError struct{ Result *Result }

func (e *RowsFailedError) Error() string {
	return fmt.Sprintf("migrate: job %s: %d rows could not be migrated, %d kept changing under concurrent writes; see the failures, fix them, then run the job again with Restart (colcrypt: --restart)",
		e.Result.JobID, e.Result.Failed, e.Result.Conflicts)
}

func (e *RowsFailedError) Is(target error) bool { return target == ErrRowsFailed }

// FinishedJobError carries the re-check of a finished job that found
// work. It matches ErrFinishedJobHasWork.
type FinishedJobError struct {
	Kind          Kind
	Table, Column string
	Result        *Result
}

func (e *FinishedJobError) Error() string {
	what := "still plaintext"
	switch e.Kind {
	case Decrypt:
		what = "still encrypted"
	case Reencrypt:
		what = "not on their tenant's active key version"
	}
	rc := e.Result.Recheck
	return fmt.Sprintf("migrate: job %s finished earlier, but a re-check of %s.%s found %d of %d rows %s; run it again from the start with Restart (colcrypt: --restart)",
		e.Result.JobID, e.Table, e.Column, rc.Pending, rc.Rows, what)
}

func (e *FinishedJobError) Is(target error) bool { return target == ErrFinishedJobHasWork }

// VerifyError carries the report of a failed verification. It matches
// ErrVerifyFailed.
type VerifyError struct{ Report *Report }

func (e *VerifyError) Error() string {
	r := e.Report
	return fmt.Sprintf("migrate: verify %s.%s: %d failing, %d plaintext, %d blind index mismatches of %d rows",
		r.Table, r.Column, r.Failed, r.Plaintext, r.BlindIndexMismatch, r.Rows)
}

func (e *VerifyError) Is(target error) bool { return target == ErrVerifyFailed }

// Failure names a row that could not be migrated or verified. Reason
// never holds a value's bytes.
type Failure struct {
	PK     string `json:"pk"`
	Tenant string `json:"tenant,omitempty"`
	Reason string `json:"reason"`
}
