package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// expectation is what Verify expects a column to hold.
type expectation uint8

const (
	// expectEncrypted reports plaintext values as problems: the check
	// after an Encrypt or Reencrypt job.
	expectEncrypted expectation = iota
	// expectPlaintext reports encrypted values as problems: the check
	// after a Decrypt job.
	expectPlaintext
	// expectAny reports only values that fail to open.
	expectAny
)

// expects is what Verify expects of a column: see Verify.
func expects(kind Kind, openOnly bool) (expectation, error) {
	switch kind {
	case "", Encrypt, Reencrypt, Decrypt:
	default:
		return 0, fmt.Errorf("%w: unknown job kind %q", ErrInvalidJob, kind)
	}
	switch {
	case openOnly:
		return expectAny, nil
	case kind == Decrypt:
		return expectPlaintext, nil
	}
	return expectEncrypted, nil
}

// Report is what Verify found in a column.
type Report struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Rows   int64  `json:"rows"`
	// Encrypted values opened (with RunOptions.CountOnly: parsed);
	// Plaintext values are not colcrypt values; Null are NULL; Failed
	// look like colcrypt values but do not open (tampered, wrong tenant, shredded tenant,
	// plaintext lookalikes) or have no tenant.
	Encrypted int64 `json:"encrypted"`
	Plaintext int64 `json:"plaintext"`
	Null      int64 `json:"null"`
	Failed    int64 `json:"failed"`
	// BlindIndexMismatch counts opened values whose blind index column
	// does not hold their blind index.
	BlindIndexMismatch int64 `json:"blind_index_mismatch,omitempty"`
	// IndexMismatch counts opened values whose named indexes
	// (Job.Indexes) are not what their row's parts give.
	IndexMismatch int64 `json:"index_mismatch,omitempty"`
	// Versions counts the values that parse, per key version; Tenants
	// splits them by tenant.
	Versions map[uint32]int64            `json:"versions"`
	Tenants  map[string]map[uint32]int64 `json:"tenants"`
	// Failures lists problem rows, at most RunOptions.MaxFailures.
	Failures          []Failure     `json:"failures,omitempty"`
	FailuresTruncated bool          `json:"failures_truncated,omitempty"`
	Duration          time.Duration `json:"duration_ns"`

	expect expectation
}

// ok reports whether the column holds what was expected and every
// encrypted value opens: Verify returns ErrRowsFailed when it does not.
func (r *Report) ok() bool {
	switch {
	case r.Failed > 0, r.BlindIndexMismatch > 0, r.IndexMismatch > 0:
		return false
	case r.expect == expectEncrypted && r.Plaintext > 0:
		return false
	case r.expect == expectPlaintext && r.Encrypted > 0:
		return false
	}
	return true
}

// Verify scans a column and opens every value with its row's tenant,
// checking that the column holds what a job of job.Kind leaves: after
// Decrypt every value plaintext, otherwise (Encrypt, Reencrypt, or no
// Kind) every value encrypted; with RunOptions.OpenOnly, only that every
// encrypted value opens. It uses job's Table, Column, PK, TenantColumn or
// Tenant, BlindIndex and Scope fields; ToColumn is ignored, and of o only
// BatchSize, MaxFailures, OpenOnly, CountOnly and Progress. It returns the
// report and, when the column does not hold what was expected,
// ErrRowsFailed.
//
// With RunOptions.CountOnly it opens nothing (no key is loaded, no KMS
// is called): it counts the values per key version and tenant, which
// key versions rows still use, for key listings and for checking that a
// reencrypt left none on an old version.
func (m *Migrator) Verify(ctx context.Context, job Job, o RunOptions) (*Report, error) {
	want, err := expects(job.Kind, o.OpenOnly || o.CountOnly)
	if err != nil {
		return nil, err
	}
	if o.CountOnly {
		return m.scan(ctx, job, o, want, false)
	}
	return m.scan(ctx, job, o, want, true)
}

// scan is Verify, opening values (open) or only counting them.
func (m *Migrator) scan(ctx context.Context, job Job, o RunOptions, want expectation, open bool) (*Report, error) {
	job.Kind, job.ToColumn = kindVerify, ""
	job, err := job.normalize()
	if err != nil {
		return nil, err
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = maxReportFailures
	}
	p, err := newPlan(ctx, m.d, m.db, job)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{Table: job.Table, Column: job.Column, Versions: map[uint32]int64{}, Tenants: map[string]map[uint32]int64{}, expect: want}
	var total int64
	if o.Progress != nil {
		if total, err = m.d.estimate(ctx, m.db, p); err != nil {
			return nil, err
		}
		o.Progress(Progress{Total: total})
	}
	w := &worker{m: m, p: p}
	fail := func(r *row, reason string) {
		if len(rep.Failures) < o.MaxFailures {
			rep.Failures = append(rep.Failures, Failure{PK: r.pkText, Tenant: w.tenantText(r), Reason: reason})
		} else {
			rep.FailuresTruncated = true
		}
	}
	var lower any
	for {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("%w: %w", errInterrupted, err)
		}
		w.startBatch(ctx)
		rows, err := w.read(ctx, m.db, lower, nil, o.BatchSize)
		if err != nil {
			return rep, err
		}
		for i := range rows {
			r := &rows[i]
			rep.Rows++
			if err := w.check(ctx, r, rep, want, open, fail); err != nil {
				return rep, err
			}
		}
		if o.Progress != nil {
			o.Progress(Progress{Done: rep.Rows, ThisRun: rep.Rows, Total: total, Failed: rep.Failed, Elapsed: time.Since(start)})
		}
		if len(rows) < o.BatchSize {
			break
		}
		lower = rows[len(rows)-1].pk
	}
	rep.Duration = time.Since(start)
	if !rep.ok() {
		return rep, &verifyError{Report: rep}
	}
	return rep, nil
}

// check classifies one row's value into rep.
func (w *worker) check(ctx context.Context, r *row, rep *Report, expect expectation, open bool, fail func(*row, string)) error {
	if !r.src.valid {
		rep.Null++
		return nil
	}
	b := r.src.b
	if !looksEncrypted(b) {
		rep.Plaintext++
		if expect == expectEncrypted {
			fail(r, reasonNotEncrypted)
		}
		return nil
	}
	v, _, err := parseStored(b)
	if err != nil {
		rep.Failed++
		fail(r, reasonLookalike)
		return nil
	}
	tenant, err := w.tenantOf(ctx, r)
	if err != nil {
		reason, ok := rowFailure(err)
		if !ok {
			return fmt.Errorf("migrate: %s row %s: %w", rep.Table, r.pkText, err)
		}
		rep.Failed++
		fail(r, reason)
		return nil
	}
	rep.Versions[v.KeyVersion]++
	tv := rep.Tenants[tenant]
	if tv == nil {
		tv = map[uint32]int64{}
		rep.Tenants[tenant] = tv
	}
	tv[v.KeyVersion]++
	if !open {
		rep.Encrypted++
		return nil
	}
	pt, err := w.open(ctx, r, tenant, b)
	if err != nil {
		reason, ok := rowFailure(err)
		if !ok {
			return fmt.Errorf("migrate: %s row %s: %w", rep.Table, r.pkText, err)
		}
		rep.Failed++
		fail(r, reason)
		return nil
	}
	rep.Encrypted++
	if expect == expectPlaintext {
		fail(r, "encrypted value where plaintext was expected")
	}
	if bi := w.p.job.BlindIndex; bi != nil {
		h, err := w.key(ctx, keyRef{tenant: tenant, version: v.KeyVersion})
		if err != nil {
			return fmt.Errorf("migrate: verify blind index: %w", err)
		}
		want, err := h.BlindIndexVersion(ctx, v.KeyVersion, bi, pt)
		if err != nil {
			return fmt.Errorf("migrate: verify blind index: %w", err)
		}
		if !r.bidx.valid || !bytes.Equal(r.bidx.b, want) {
			rep.BlindIndexMismatch++
			fail(r, "blind index does not match the value")
		}
	}
	if len(w.p.nidx) > 0 {
		// As a lookup computes them: Verify creates no index key.
		vals, reason, err := w.indexValues(ctx, r, tenant, pt, true)
		switch {
		case errors.Is(err, errNoIndexKey):
			rep.IndexMismatch++
			fail(r, "named index: the tenant has no index key, so no stored index can match")
		case err != nil:
			return fmt.Errorf("migrate: verify named index: %w", err)
		case reason != "":
			rep.Failed++
			fail(r, reason)
		case !w.indexesCurrent(r, vals):
			rep.IndexMismatch++
			fail(r, "named index does not match its parts")
		}
	}
	clear(pt)
	return nil
}
