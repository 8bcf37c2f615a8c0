package migrate

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
)

// TestResume interrupts a job mid-run and runs it again: the second run
// continues from the checkpoint and every row is migrated exactly once.
func TestResume(t *testing.T) {
	const n = 8000
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(n)
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			ctx, cancel := context.WithCancel(context.Background())
			res, err := e.m.Run(ctx, job, RunOptions{BatchSize: 100, Workers: 2, Progress: func(p Progress) {
				if p.Done >= n/3 {
					cancel()
				}
			}})
			if !errors.Is(err, errInterrupted) || !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted Run = %+v, %v; want ErrInterrupted", res, err)
			}
			if res.Done || res.Scanned < n/3 || res.Scanned >= n {
				t.Fatalf("interrupted Run = %+v, want a partial job", res)
			}
			// What the checkpoint says is what the table holds: the
			// interrupted run's batches committed whole.
			encrypted := e.count("users", "email_enc IS NOT NULL")
			if encrypted != res.Updated {
				t.Errorf("after interrupt: %d rows encrypted, checkpoint says %d", encrypted, res.Updated)
			}
			st, err := e.m.Status(context.Background(), job.defaultID())
			if err != nil || st.State != stateStalled || st.Error != "interrupted" || st.ChunksDone == st.Chunks {
				t.Fatalf("Status = %+v, %v; want an interrupted, stalled job", st, err)
			}

			var firstDone int64 = -1
			res2 := mustRun(t, e.m, job, RunOptions{BatchSize: 100, Workers: 2, Progress: func(p Progress) {
				if firstDone < 0 {
					firstDone = p.Done
				}
			}})
			if firstDone != res.Scanned {
				t.Errorf("resumed progress started at %d rows, want the %d already done", firstDone, res.Scanned)
			}
			if !res2.Done || res2.Scanned != n || res2.ThisRun != n-res.Scanned || res2.Skipped != 0 || res2.Updated+res2.Null != n {
				t.Errorf("resumed Run = %+v; want the remaining %d rows, none twice", res2, n-res.Scanned)
			}
			e.checkEncrypted("email_enc", emailOf)

			// A finished job is not run again without Restart: the column
			// is re-checked, and the evidence reported.
			res3 := mustRun(t, e.m, job, RunOptions{})
			if res3.ThisRun != 0 || !res3.Done || res3.Updated != res2.Updated {
				t.Errorf("Run of a done job = %+v, want its recorded result", res3)
			}
			if rc := res3.Recheck; rc == nil || rc.Scanned != n || rc.Updated != 0 {
				t.Errorf("Run of a done job: Recheck = %+v, want %d rows checked, 0 pending", rc, n)
			}
		})
	}
}

// TestLookalikes puts plaintext that looks like colcrypt values in a
// column: encrypt leaves it alone, and Verify reports it.
func TestLookalikes(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(300)
			ph := dc.d.ph(1)
			// Magic byte, then too short to parse / long enough to parse.
			short := []byte{codec.Magic, 'h', 'i'}
			parses := append([]byte{codec.Magic, 1, 1}, []byte("0123456789abcdefghijklmnopqrstuvwxyz")...)
			e.exec("UPDATE users SET raw = "+ph+" WHERE id = 5", short)
			e.exec("UPDATE users SET raw = "+ph+" WHERE id = 6", parses)
			e.exec("UPDATE users SET email = "+ph+" WHERE id = 7", codec.ArmorPrefix+"not base64!")
			e.exec("UPDATE users SET email = "+ph+" WHERE id = 8", string(codec.Armor(nil, parses)))

			for col, ids := range map[string][2]int64{"raw": {5, 6}, "email": {7, 8}} {
				before := e.rawColumn("users", col)
				res, err := e.m.Run(ctx, Job{Kind: Encrypt, Table: "users", Column: col, TenantColumn: "tenant"}, RunOptions{BatchSize: 50})
				var rf *rowsFailedError
				if !errors.As(err, &rf) || res.Failed != 1 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Reason, "looks like") {
					t.Errorf("Run(%s) = %+v, %v; want the unparseable lookalike reported", col, res, err)
				}
				after := e.rawColumn("users", col)
				for i := range before {
					if id := before[i].id; (id == ids[0] || id == ids[1]) && string(before[i].v) != string(after[i].v) {
						t.Errorf("row %d: %s changed from %q to %q; lookalikes must be left alone", id, col, before[i].v, after[i].v)
					}
				}
				rep, err := e.m.Verify(ctx, Job{Table: "users", Column: col, TenantColumn: "tenant"}, RunOptions{})
				if !errors.Is(err, errVerifyFailed) || rep.Failed != 2 || rep.Plaintext != 0 {
					t.Errorf("Verify(%s) = %+v, %v; want both lookalikes failing", col, rep, err)
				}
			}
		})
	}
}

func TestJobErrors(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(10)
			e.exec("CREATE TABLE nokey (a text, b text, u text)")
			e.exec("CREATE UNIQUE INDEX nokey_u ON nokey (u)")
			e.exec("INSERT INTO nokey VALUES ('x', 'y', 'z')")
			cases := []struct {
				name string
				job  Job
				want error
			}{
				{"no kind", Job{Table: "users", Column: "email"}, ErrInvalidJob},
				{"no table", Job{Kind: Encrypt, Table: "missing", Column: "email"}, errNoTable},
				{"no column", Job{Kind: Encrypt, Table: "users", Column: "missing"}, errNoColumn},
				{"no target column", Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "missing"}, errNoColumn},
				{"no primary key", Job{Kind: Encrypt, Table: "nokey", Column: "a", Tenant: "t"}, errNoPrimaryKey},
				{"key not unique", Job{Kind: Encrypt, Table: "nokey", Column: "a", PK: "b", Tenant: "t"}, errNoPrimaryKey},
				{"integer column in place", Job{Kind: Encrypt, Table: "users", Column: "n", TenantColumn: "tenant"}, errUnsupportedColumn},
				{"two tenant sources", Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant", Tenant: "t"}, ErrInvalidJob},
				{"reencrypt into a column", Job{Kind: Reencrypt, Table: "users", Column: "email_enc", ToColumn: "raw"}, ErrInvalidJob},
				{"migrating the key", Job{Kind: Encrypt, Table: "users", Column: "id", ToColumn: "email_enc", Tenant: "t"}, ErrInvalidJob},
			}
			for _, tc := range cases {
				if _, err := e.m.Run(ctx, tc.job, RunOptions{}); !errors.Is(err, tc.want) {
					t.Errorf("%s: Run = %v, want %v", tc.name, err, tc.want)
				}
			}
			// A unique column named as the key works.
			if _, err := e.m.Run(ctx, Job{Kind: Encrypt, Table: "nokey", Column: "a", PK: "u", Tenant: "t"}, RunOptions{}); err != nil {
				t.Errorf("Run with PK u = %v", err)
			}
			// The id of an unfinished job cannot be used for other work;
			// a finished job's can.
			job := Job{ID: "j1", Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			cctx, cancel := context.WithCancel(ctx)
			if _, err := e.m.Run(cctx, job, RunOptions{Progress: func(Progress) { cancel() }}); !errors.Is(err, errInterrupted) {
				t.Fatalf("interrupted Run = %v", err)
			}
			other := job
			other.ToColumn = "raw"
			if _, err := e.m.Run(ctx, other, RunOptions{}); !errors.Is(err, errJobMismatch) {
				t.Errorf("Run reusing an unfinished job's id = %v, want ErrJobMismatch", err)
			}
			mustRun(t, e.m, job, RunOptions{})
			e.exec("UPDATE users SET raw = NULL")
			if res := mustRun(t, e.m, other, RunOptions{}); res.Updated != 10 {
				t.Errorf("Run reusing a finished job's id = %+v, want a new job", res)
			}
			if _, err := e.m.Status(ctx, "nope"); !errors.Is(err, ErrNoJob) {
				t.Errorf("Status(nope) = %v, want ErrNoJob", err)
			}
			jobs, err := e.m.Jobs(ctx)
			if err != nil || len(jobs) != 2 {
				t.Errorf("Jobs = %+v, %v; want the two jobs", jobs, err)
			}
		})
	}
}

// TestDryRun counts without writing anything: no data, no checkpoint,
// no keys.
func TestDryRun(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			ctx := context.Background()
			e.createUsers(700)
			before := e.rawColumn("users", "email")
			res, err := e.m.Run(ctx, Job{Kind: Encrypt, Table: "users", Column: "email", TenantColumn: "tenant"}, RunOptions{DryRun: true, BatchSize: 64})
			if err != nil || !res.DryRun || res.Scanned != 700 || res.Updated+res.Null != 700 || res.Updated == 0 {
				t.Fatalf("dry Run = %+v, %v", res, err)
			}
			after := e.rawColumn("users", "email")
			for i := range before {
				if string(before[i].v) != string(after[i].v) {
					t.Fatalf("row %d changed in a dry run", before[i].id)
				}
			}
			if jobs, err := e.m.Jobs(ctx); err != nil || len(jobs) != 0 {
				t.Errorf("Jobs after a dry run = %v, %v; want none", jobs, err)
			}
			if tenants, err := e.store.Tenants(ctx); err != nil || len(tenants) != 0 {
				t.Errorf("Tenants after a dry run = %v, %v; want no keys created", tenants, err)
			}
		})
	}
}

// TestSampledChunks plans chunks from a block sample of the key column,
// the path tables above exactBoundaryRows take.
func TestSampledChunks(t *testing.T) {
	defer func(old int64) { exactBoundaryRows = old }(exactBoundaryRows)
	exactBoundaryRows = 1000
	e := newEnv(t, dialectPostgres)
	e.createUsers(20_000)
	res := mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}, RunOptions{BatchSize: 250, Workers: 2})
	st, err := e.m.Status(context.Background(), res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Chunks < 2 || res.Scanned != 20_000 || res.Updated+res.Null != 20_000 {
		t.Errorf("Run = %+v with %d chunks; want several chunks covering every row once", res, st.Chunks)
	}
	e.checkEncrypted("email_enc", emailOf)
}

// TestSQLiteRowid pages a SQLite table without a primary key by its rowid.
func TestSQLiteRowid(t *testing.T) {
	e := newEnv(t, dialectSQLite)
	e.exec("CREATE TABLE notes (tenant TEXT, body TEXT)")
	e.exec("INSERT INTO notes WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < 499) SELECT 'acme', 'note ' || x FROM g")
	job := Job{Kind: Encrypt, Table: "notes", Column: "body", Tenant: "acme"}
	if _, err := e.m.Run(context.Background(), job, RunOptions{}); !errors.Is(err, errNoPrimaryKey) {
		t.Fatalf("Run without a key = %v, want ErrNoPrimaryKey", err)
	}
	job.PK = "rowid"
	res := mustRun(t, e.m, job, RunOptions{BatchSize: 60})
	if res.Updated != 500 {
		t.Fatalf("Run = %+v, want 500 rows", res)
	}
	rows, err := e.db.Query("SELECT rowid, body FROM notes")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var body string
		if err := rows.Scan(&id, &body); err != nil {
			t.Fatal(err)
		}
		pt, err := e.enc.Open(context.Background(), field.Scope{Tenant: "acme", Table: "notes", Column: "body"}, []byte(body))
		if err != nil || string(pt) != "note "+strconv.Itoa(int(id-1)) {
			t.Fatalf("rowid %d: Open = %q, %v", id, pt, err)
		}
	}
}

var errKMSDown = errors.New("test kms: down")

// downKMS is a master key whose every call fails.
type downKMS struct{}

func (downKMS) Wrap(context.Context, []byte, kms.WrapContext) ([]byte, error) { return nil, errKMSDown }
func (downKMS) Unwrap(context.Context, []byte, kms.WrapContext) ([]byte, error) {
	return nil, errKMSDown
}
func (downKMS) Close() error { return nil }

// TestKMSFailureStopsJob: a failing KMS is not a row's problem. The job
// stops with the error, wrapped once with the migrate prefix, having
// written nothing, and a later run with a working KMS finishes it.
func TestKMSFailureStopsJob(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			e := newEnv(t, dc.d)
			e.createUsers(300)
			kd := dc.d.Name()
			down, err := keystore.New(e.db, kms.NewKeeper("down:", downKMS{}), keystore.WithDialect(kd))
			if err != nil {
				t.Fatal(err)
			}
			defer down.Close()
			m, err := New(e.db, field.NewEncryptor(down), WithDialect(dc.d.Name()))
			if err != nil {
				t.Fatal(err)
			}
			job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
			res, err := m.Run(context.Background(), job, RunOptions{BatchSize: 50})
			if !errors.Is(err, errKMSDown) || !strings.HasPrefix(err.Error(), "migrate: ") || strings.Count(err.Error(), "migrate: ") != 1 {
				t.Fatalf("Run with the KMS down = %v, want the KMS error wrapped once by migrate", err)
			}
			if res == nil || res.Done || res.Updated != 0 || e.count("users", "email_enc IS NOT NULL") != 0 {
				t.Fatalf("Run with the KMS down = %+v; want nothing written", res)
			}
			res = mustRun(t, e.m, job, RunOptions{BatchSize: 50})
			if !res.Done || res.Updated+res.Null != 300 {
				t.Errorf("Run after the KMS is back = %+v", res)
			}
			e.checkEncrypted("email_enc", emailOf)
		})
	}
}
