package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// applicant is row id of the applicants table: an SSN (migrated), a zip
// with spaces around it (a plain column, NULL every 7th row) and an
// integer.
func applicant(id int64) (ssn string, zip sql.NullString, n int64) {
	ssn = fmt.Sprintf("%03d-%02d-%04d", id%1000, id%100, (id*37)%10000)
	if id%7 != 0 {
		zip = sql.NullString{String: fmt.Sprintf(" 9%04d ", id%13), Valid: true}
	}
	return ssn, zip, id * 3
}

// createApplicants creates applicants(id, tenant, ssn, zip, n, score,
// ssn_zip, ssn_n, ssn4) with n rows.
func (e *env) createApplicants(n int) {
	e.t.Helper()
	e.exec(fmt.Sprintf(`CREATE TABLE applicants (id %s PRIMARY KEY, tenant %s, ssn %s, zip %s, n integer, score real, ssn_zip %s, ssn_n %s, ssn4 %s, note %s)`,
		e.typ("bigint"), e.typ("text"), e.typ("text"), e.typ("text"), e.typ("bytea"), e.typ("bytea"), e.typ("bytea"), e.typ("text")))
	q := fmt.Sprintf("INSERT INTO applicants (id, tenant, ssn, zip, n) VALUES (%s, %s, %s, %s, %s)", e.d.ph(1), e.d.ph(2), e.d.ph(3), e.d.ph(4), e.d.ph(5))
	for id := int64(1); id <= int64(n); id++ {
		ssn, zip, k := applicant(id)
		e.exec(q, id, tenantOfID(id), ssn, zip, k)
	}
}

func jobIndex(t testing.TB, column, tag string) JobIndex {
	t.Helper()
	x, err := NewJobIndex(column, tag)
	if err != nil {
		t.Fatalf("NewJobIndex(%q) = %v", tag, err)
	}
	return x
}

// applicantIndexes: SSN's last four digits with the trimmed zip, with
// the integer n, and alone.
func applicantIndexes(t testing.TB) []JobIndex {
	return []JobIndex{
		jobIndex(t, "ssn_zip", "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32"),
		jobIndex(t, "ssn_n", "index:ssn_n,parts:ssn/digits/last4+n"),
		jobIndex(t, "ssn4", "index:ssn_last4,parts:ssn/digits/last4,bits:24"),
	}
}

// indexOf returns the index of values as a lookup computes it.
func (e *env) indexOf(ix *field.Index, tenant string, values ...string) []byte {
	e.t.Helper()
	vs := make([][]byte, len(values))
	for i, v := range values {
		vs[i] = []byte(v)
	}
	c, err := (*fieldcore.Engine)(e.enc).IndexCandidates(context.Background(), tenant, "applicants", ix, vs)
	if err != nil || len(c) != 1 {
		e.t.Fatalf("IndexCandidates(%s) = %x, %v; want one value", ix.Name, c, err)
	}
	return c[0]
}

// checkApplicantIndexes checks every row's index columns against the
// rows' parts; zipOf gives a row's zip where it differs from the
// generated one.
func (e *env) checkApplicantIndexes(xs []JobIndex, zipOf func(id int64) sql.NullString) {
	e.t.Helper()
	rows, err := e.db.Query("SELECT id, tenant, ssn_zip, ssn_n, ssn4 FROM applicants ORDER BY id")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	bad := 0
	for rows.Next() {
		var id int64
		var tenant string
		var got [3]cell
		if err := rows.Scan(&id, &tenant, &got[0], &got[1], &got[2]); err != nil {
			e.t.Fatal(err)
		}
		ssn, zip, n := applicant(id)
		if zipOf != nil {
			zip = zipOf(id)
		}
		want := [3][]byte{nil, e.indexOf(xs[1].Index, tenant, ssn, strconv.FormatInt(n, 10)), e.indexOf(xs[2].Index, tenant, ssn)}
		if zip.Valid {
			want[0] = e.indexOf(xs[0].Index, tenant, ssn, zip.String)
		}
		for k := range want {
			if got[k].valid != (want[k] != nil) || !bytes.Equal(got[k].b, want[k]) {
				e.t.Errorf("row %d: %s = %x (valid %v), want %x", id, xs[k].Column, got[k].b, got[k].valid, want[k])
				bad++
			}
		}
		if bad > 10 {
			e.t.Fatal("too many bad rows")
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
}

// TestEncryptNamedIndexes encrypts a column in place filling three named
// indexes (a plain text part, an integer part, and a NULL part making a
// NULL index), verifies them, finds a damaged one and repairs it with an
// index job.
func TestEncryptNamedIndexes(t *testing.T) {
	for _, dd := range dialects {
		t.Run(dd.name, func(t *testing.T) {
			t.Parallel()
			const n = 230
			ctx := context.Background()
			e := newEnv(t, dd.d)
			e.createApplicants(n)
			xs := applicantIndexes(t)
			job := Job{Kind: Encrypt, Table: "applicants", Column: "ssn", TenantColumn: "tenant", Indexes: xs}
			res := mustRun(t, e.m, job, RunOptions{BatchSize: 40})
			if res.Updated != n || res.Failed != 0 {
				t.Fatalf("Run = %+v, want %d updated", res, n)
			}
			e.checkApplicantIndexes(xs, nil)
			if got := e.count("applicants", "ssn LIKE '%-%-%'"); got != 0 {
				t.Fatalf("%d SSNs left in plaintext", got)
			}
			rep, err := e.m.Verify(ctx, Job{Table: "applicants", Column: "ssn", TenantColumn: "tenant", Indexes: xs}, RunOptions{})
			if err != nil || rep.IndexMismatch != 0 || rep.Encrypted != n {
				t.Fatalf("Verify = %+v, %v; want %d encrypted, no mismatch", rep, err, n)
			}

			// Another row's index, and a NULL where the index is not.
			e.exec("UPDATE applicants SET ssn_zip = (SELECT ssn_zip FROM (SELECT ssn_zip FROM applicants WHERE id = 2) AS s) WHERE id = 3")
			e.exec("UPDATE applicants SET ssn4 = NULL WHERE id = 5")
			rep, err = e.m.Verify(ctx, Job{Table: "applicants", Column: "ssn", TenantColumn: "tenant", Indexes: xs}, RunOptions{})
			if !errors.Is(err, ErrRowsFailed) || rep.IndexMismatch != 2 {
				t.Fatalf("Verify after damage = %+v, %v; want 2 index mismatches and ErrRowsFailed", rep, err)
			}

			// A job over the encrypted column puts them right, and only them.
			res = mustRun(t, e.m, Job{Kind: Index, Table: "applicants", Column: "ssn", TenantColumn: "tenant", Indexes: xs}, RunOptions{BatchSize: 50})
			if res.Updated != 2 || res.Skipped != n-2 {
				t.Fatalf("index job = %+v, want 2 updated, the rest skipped", res)
			}
			e.checkApplicantIndexes(xs, nil)
			// The encrypt job, run again, has nothing to do.
			res = mustRun(t, e.m, job, RunOptions{Restart: true})
			if res.Updated != 0 || res.Skipped != n {
				t.Fatalf("encrypt rerun = %+v, want all %d skipped", res, n)
			}
		})
	}
}

// TestIndexPartChangedDuringBatch: the application changes a plain part
// column of a row between a batch's read and its write. The row's index
// must be computed from the new value: its compare-and-set covers the
// part column, so the row is read again. (SQLite's batch holds the write
// lock: no write can come in between.)
func TestIndexPartChangedDuringBatch(t *testing.T) {
	cases := append(dialects[:0:0], dialects...)
	cases = append(cases, struct {
		name string
		d    dialect
	}{"postgres-values", dialectPostgres})
	for _, dd := range cases {
		if dd.d == dialectSQLite {
			continue
		}
		t.Run(dd.name, func(t *testing.T) {
			if dd.name == "postgres-values" {
				byValues(t)
			}
			e := newEnv(t, dd.d)
			e.createApplicants(120)
			xs := applicantIndexes(t)
			var changed int64
			const newZip = "12345"
			var once sync.Once
			testHookBeforeWrite = func(ws []write) error {
				once.Do(func() {
					changed, _ = strconv.ParseInt(ws[2].r.pkText, 10, 64)
					if _, err := e.db.Exec("UPDATE applicants SET zip = "+e.d.ph(1)+" WHERE id = "+e.d.ph(2), newZip, changed); err != nil {
						t.Error(err)
					}
				})
				return nil
			}
			t.Cleanup(func() { testHookBeforeWrite = nil })
			res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "applicants", Column: "ssn", TenantColumn: "tenant", Indexes: xs}, RunOptions{BatchSize: 30})
			if changed == 0 || res.Rereads < 1 || res.Updated != 120 {
				t.Fatalf("Run = %+v (row %d changed), want the changed row re-read and every row written", res, changed)
			}
			e.checkApplicantIndexes(xs, func(id int64) sql.NullString {
				if id == changed {
					return sql.NullString{String: newZip, Valid: true}
				}
				_, zip, _ := applicant(id)
				return zip
			})
		})
	}
}

// byValues makes the plans of t's jobs compare values, not row
// versions, as on a Postgres view or foreign table.
func byValues(t *testing.T) {
	testHookPlan = func(p *plan) { p.byVersion = false }
	t.Cleanup(func() { testHookPlan = nil })
}

// TestNamedIndexEncryptAlso fills an index over two columns encrypted in
// one pass, the second into a column of its own, and then an index added
// later over both encrypted columns with an index job.
func TestNamedIndexEncryptAlso(t *testing.T) {
	cases := append(dialects[:0:0], dialects...)
	cases = append(cases, struct {
		name string
		d    dialect
	}{"postgres-values", dialectPostgres})
	for _, dd := range cases {
		t.Run(dd.name, func(t *testing.T) {
			if dd.name == "postgres-values" {
				byValues(t)
			} else {
				t.Parallel()
			}
			const n = 150
			ctx := context.Background()
			e := newEnv(t, dd.d)
			e.createApplicants(n)
			e.exec("ALTER TABLE applicants ADD COLUMN zip_enc " + e.typ("bytea"))
			first := jobIndex(t, "ssn_zip", "index:ssn_zip,parts:ssn/digits/last4+zip_enc/trim,bits:32")
			res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "applicants", Column: "ssn", TenantColumn: "tenant",
				Also: []ColumnPair{{Column: "zip", ToColumn: "zip_enc"}}, Indexes: []JobIndex{first}}, RunOptions{BatchSize: 40})
			if res.Failed != 0 {
				t.Fatalf("Run = %+v", res)
			}
			// Added later, over the two encrypted columns: the zip's
			// plaintext is now only in zip_enc (the source is dropped).
			e.exec("UPDATE applicants SET zip = NULL")
			later := jobIndex(t, "ssn4", "index:ssn_zip4,parts:ssn/digits/last4+zip_enc/trim/first4,bits:64")
			res = mustRun(t, e.m, Job{Kind: Index, Table: "applicants", Column: "ssn", TenantColumn: "tenant",
				Also: []ColumnPair{{Column: "zip_enc"}}, Indexes: []JobIndex{later}}, RunOptions{BatchSize: 40})
			if res.Failed != 0 || res.Updated != n-n/7 || res.Skipped != n/7 {
				t.Fatalf("index job = %+v, want %d updated and the NULL zips' rows skipped", res, n-n/7)
			}
			for id := int64(1); id <= n; id++ {
				ssn, zip, _ := applicant(id)
				var got [2]cell
				var tenant string
				if err := e.db.QueryRow("SELECT tenant, ssn_zip, ssn4 FROM applicants WHERE id = "+e.d.ph(1), id).Scan(&tenant, &got[0], &got[1]); err != nil {
					t.Fatal(err)
				}
				var want [2][]byte
				if zip.Valid {
					want[0] = e.indexOf(first.Index, tenant, ssn, zip.String)
					want[1] = e.indexOf(later.Index, tenant, ssn, zip.String)
				}
				for k := range want {
					if got[k].valid != (want[k] != nil) || !bytes.Equal(got[k].b, want[k]) {
						t.Fatalf("row %d: index %d = %x, want %x", id, k, got[k].b, want[k])
					}
				}
			}
			rep, err := e.m.Verify(ctx, Job{Table: "applicants", Column: "ssn", TenantColumn: "tenant", Also: []ColumnPair{{Column: "zip_enc"}}, Indexes: []JobIndex{first, later}}, RunOptions{})
			if err != nil || rep.IndexMismatch != 0 {
				t.Fatalf("Verify = %+v, %v", rep, err)
			}
		})
	}
}

// TestNamedIndexBadDefinitions: every definition that cannot hold is
// refused before anything is written.
func TestNamedIndexBadDefinitions(t *testing.T) {
	e := newEnv(t, dialectSQLite)
	e.createApplicants(20)
	ix := func(column, tag string) JobIndex { return jobIndex(t, column, tag) }
	base := func(k Kind, xs ...JobIndex) Job {
		return Job{Kind: k, Table: "applicants", Column: "ssn", TenantColumn: "tenant", Indexes: xs}
	}
	withBidx := base(Index, ix("ssn_zip", "index:a,parts:ssn"))
	withBidx.BlindIndex = lowerBidx(t)
	cases := []struct {
		name string
		job  Job
		want error
	}{
		{"no such index column", base(Encrypt, ix("nope", "index:a,parts:ssn")), ErrSchema},
		{"text index column", base(Encrypt, ix("note", "index:a,parts:ssn")), ErrSchema},
		{"no such part column", base(Encrypt, ix("ssn_zip", "index:a,parts:ssn+nope")), ErrSchema},
		{"float part column", base(Encrypt, ix("ssn_zip", "index:a,parts:ssn+score")), ErrSchema},
		{"first column not a part", base(Encrypt, ix("ssn_zip", "index:a,parts:zip")), ErrInvalidJob},
		{"index in the migrated column", base(Encrypt, ix("ssn", "index:a,parts:ssn")), ErrInvalidJob},
		{"index in the tenant column", base(Encrypt, ix("tenant", "index:a,parts:ssn")), ErrInvalidJob},
		{"part is the index column", base(Encrypt, ix("ssn_zip", "index:a,parts:ssn+ssn_zip")), ErrInvalidJob},
		{"one name twice", base(Encrypt, ix("ssn_zip", "index:a,parts:ssn"), ix("ssn4", "index:a,parts:ssn/digits")), ErrInvalidJob},
		{"one column twice", base(Encrypt, ix("ssn_zip", "index:a,parts:ssn"), ix("ssn_zip", "index:b,parts:ssn/digits")), ErrInvalidJob},
		{"no column", base(Encrypt, ix("", "index:a,parts:ssn")), ErrInvalidJob},
		{"not made by NewIndex", base(Encrypt, JobIndex{Index: &field.Index{Name: "a", Bits: 32, Parts: []fieldcore.IndexPart{{Source: "ssn"}}}, Column: "ssn_zip"}), ErrInvalidJob},
		{"decrypt", base(Decrypt, ix("ssn_zip", "index:a,parts:ssn")), ErrInvalidJob},
		{"reencrypt", base(Reencrypt, ix("ssn_zip", "index:a,parts:ssn")), ErrInvalidJob},
		{"index job without indexes", base(Index), ErrInvalidJob},
		{"index job with a blind index", withBidx, ErrInvalidJob},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.m.Run(context.Background(), tc.job, RunOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run = %+v, %v; want %v", res, err, tc.want)
			}
			if strings.Contains(err.Error(), "123-") {
				t.Fatalf("error %q holds a value", err)
			}
		})
	}
	if got := e.count("applicants", "ssn_zip IS NOT NULL OR ssn4 IS NOT NULL OR ssn NOT LIKE '%-%-%'"); got != 0 {
		t.Fatalf("%d rows written by refused jobs", got)
	}
	if e.m.checkpointExists(context.Background()) {
		if got := e.count(defaultCheckpointTable, "1 = 1"); got != 0 {
			t.Fatalf("%d checkpoint rows written by refused jobs", got)
		}
	}
	// Tags that are no index.
	for _, tag := range []string{"", "index:a", "parts:ssn", "index:a,parts:ssn/nope", "index:1a,parts:ssn", "index:a,parts:ssn,bits:7", "blindindex:x"} {
		var te *field.TagError
		if _, err := NewJobIndex("c", tag); !errors.As(err, &te) {
			t.Errorf("NewJobIndex(%q) = %v, want a *field.TagError", tag, err)
		}
	}
}

// TestNamedIndexSpecMismatch: an unfinished job is not resumed with
// another index definition.
func TestNamedIndexSpecMismatch(t *testing.T) {
	e := newEnv(t, dialectSQLite)
	e.createApplicants(50)
	stop := errors.New("stopped by the test")
	testHookBeforeWrite = func([]write) error { return stop }
	t.Cleanup(func() { testHookBeforeWrite = nil })
	job := Job{Kind: Encrypt, Table: "applicants", Column: "ssn", TenantColumn: "tenant",
		Indexes: []JobIndex{jobIndex(t, "ssn_zip", "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32")}}
	if _, err := e.m.Run(context.Background(), job, RunOptions{BatchSize: 10}); !errors.Is(err, stop) {
		t.Fatalf("Run = %v, want the hook's error", err)
	}
	testHookBeforeWrite = nil
	for _, tag := range []string{
		"index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:40",
		"index:ssn_zip,parts:ssn/digits/last4+zip,bits:32",
		"index:other,parts:ssn/digits/last4+zip/trim,bits:32",
	} {
		other := job
		other.Indexes = []JobIndex{jobIndex(t, "ssn_zip", tag)}
		if _, err := e.m.Run(context.Background(), other, RunOptions{}); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("Run with %q = %v, want ErrInvalidJob (another job under the id)", tag, err)
		}
	}
	other := job
	other.Indexes = nil
	if _, err := e.m.Run(context.Background(), other, RunOptions{}); !errors.Is(err, ErrInvalidJob) {
		t.Errorf("Run without the index = %v, want ErrInvalidJob", err)
	}
	res := mustRun(t, e.m, job, RunOptions{})
	if res.Updated != 50 {
		t.Fatalf("resumed Run = %+v", res)
	}
}
