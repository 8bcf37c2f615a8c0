package migrate

import (
	"context"
	"database/sql"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/colcrypt/colcrypt/testhelpers"
)

// TestMySQLWithoutParseTime runs a job and reads its status over a
// connection without parseTime, where DATETIME columns arrive as text.
func TestMySQLWithoutParseTime(t *testing.T) {
	cfg, err := gomysql.ParseDSN(testhelpers.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = false
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := newEnvDB(t, dialectMySQL, db)
	e.createUsers(500)
	job := Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"}
	res := mustRun(t, e.m, job, RunOptions{BatchSize: 64, Workers: 2})
	if !res.Done || res.Scanned != 500 || res.Failed != 0 {
		t.Fatalf("Run = %+v", res)
	}
	e.checkEncrypted("email_enc", emailOf)
	st, err := e.m.Status(context.Background(), res.JobID)
	if err != nil || st.State != stateDone || st.Scanned != 500 || st.UpdatedAt.IsZero() {
		t.Fatalf("Status(%s) = %+v, %v; want done, 500 scanned, a time", res.JobID, st, err)
	}
}
