package sqltypes_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// TestBlindIndexPostgres stores an email with its blind index, rotates the
// tenant's key, stores another, and finds both with = ANY($1).
func TestBlindIndexPostgres(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, tenant_id text, email bytea, email_bidx bytea)`)
	email := sqltypes.NewColumn[string](pg.enc, "p", "email", sqltypes.WithTag("blindindex:email_bidx,normalize:lower+trim"))
	insert := func(id int, tenant, v string) {
		t.Helper()
		idx, err := email.BlindIndex(ctx, tenant, v)
		if err != nil {
			t.Fatalf("BlindIndex: %v", err)
		}
		mustPoolExec(t, pg.pool, `INSERT INTO p VALUES ($1, $2, $3, $4)`, id, tenant, email.Value(ctx, tenant, v), idx)
	}
	find := func(tenant, v string) []int {
		t.Helper()
		cands, err := email.Match(ctx, tenant, v)
		if err != nil {
			t.Fatalf("Match: %v", err)
		}
		rows, err := pg.pool.Query(ctx, `SELECT id, email FROM p WHERE tenant_id = $1 AND email_bidx = ANY($2) ORDER BY id`, tenant, cands)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		defer rows.Close()
		var ids []int
		for rows.Next() {
			var id int
			var got string
			if err := rows.Scan(&id, email.Scan(ctx, tenant, &got)); err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !strings.EqualFold(strings.TrimSpace(got), strings.TrimSpace(v)) {
				t.Errorf("Match(%q) found %q", v, got)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return ids
	}

	insert(1, "acme", "Ann@Example.com")
	insert(2, "acme", "bob@example.com")
	insert(3, "globex", "ann@example.com")
	if _, err := pg.keys.Rotate(ctx, "acme"); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	insert(4, "acme", " ann@example.COM ")

	if ids := find("acme", "ANN@example.com"); len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
		t.Errorf("find(acme, ann) = %v, want [1 4] (before and after the rotation)", ids)
	}
	if ids := find("globex", "ann@example.com"); len(ids) != 1 || ids[0] != 3 {
		t.Errorf("find(globex, ann) = %v, want [3]", ids)
	}
	if ids := find("acme", "carol@example.com"); len(ids) != 0 {
		t.Errorf("find(acme, carol) = %v, want none", ids)
	}
	cands, err := email.Match(ctx, "acme", "ann@example.com")
	if err != nil || len(cands) != 1 {
		t.Errorf("Match after one rotation = %d candidates, %v; want 1 (the index key is not rotated)", len(cands), err)
	}
	if cands, err := email.Match(ctx, "nobody-yet", "ann@example.com"); err != nil || len(cands) != 0 {
		t.Errorf("Match for a tenant without keys = %d candidates, %v; want none", len(cands), err)
	}
}

// TestDeterministicMatch looks up deterministic columns, binary and
// armored, in Postgres with = ANY($1) and in SQLite with IN.
func TestDeterministicMatch(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, ssn bytea, ssn_text text)`)
	ssn := sqltypes.NewColumn[string](pg.enc, "p", "ssn", sqltypes.WithTag("deterministic"))
	ssnText := sqltypes.NewColumn[string](pg.enc, "p", "ssn_text", sqltypes.WithTag("deterministic"), sqltypes.WithTag("armor"))
	for id, v := range []string{"111-11-1111", "222-22-2222", "111-11-1111"} {
		mustPoolExec(t, pg.pool, `INSERT INTO p VALUES ($1, $2, $3)`, id, ssn.Value(ctx, "acme", v), ssnText.Value(ctx, "acme", v))
	}
	for _, tc := range []struct {
		col   *sqltypes.Column[string]
		query string
	}{
		{ssn, `SELECT id FROM p WHERE ssn = ANY($1) ORDER BY id`},
		{ssnText, `SELECT id FROM p WHERE ssn_text = ANY($1) ORDER BY id`},
	} {
		cands, err := tc.col.Match(ctx, "acme", "111-11-1111")
		if err != nil || len(cands) != 1 {
			t.Fatalf("%s: Match = %d candidates, %v; want 1", tc.query, len(cands), err)
		}
		rows, err := pg.pool.Query(ctx, tc.query, cands)
		if err != nil {
			t.Fatalf("%s: Query: %v", tc.query, err)
		}
		var ids []int
		for rows.Next() {
			var id int
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) != 2 || ids[0] != 0 || ids[1] != 2 {
			t.Errorf("%s: rows matching 111-11-1111 = %v, %v; want [0 2]", tc.query, ids, err)
		}
	}
}

func TestMatchSQLite(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE p (id integer PRIMARY KEY, email BLOB, email_bidx BLOB)`)
	email := sqltypes.NewColumn[string](e.enc, "p", "email", sqltypes.WithTag("blindindex:email_bidx,normalize:lower,bidxlen:8"))
	for id, v := range []string{"a@x.test", "B@X.TEST", "A@X.test"} {
		idx, err := email.BlindIndex(ctx, "acme", v)
		if err != nil {
			t.Fatal(err)
		}
		if len(idx) != 8 {
			t.Errorf("len(BlindIndex) = %d, want 8", len(idx))
		}
		mustExec(t, e.db, `INSERT INTO p VALUES (?, ?, ?)`, id, email.Value(ctx, "acme", v), idx)
	}
	cands, err := email.Match(ctx, "acme", "a@X.TEST")
	if err != nil || len(cands) != 1 {
		t.Fatalf("Match = %d, %v; want 1 candidate", len(cands), err)
	}
	rows, err := e.db.Query(`SELECT id FROM p WHERE email_bidx IN (?) ORDER BY id`, cands[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if len(ids) != 2 || ids[0] != 0 || ids[1] != 2 {
		t.Errorf("rows matching a@x.test = %v, want [0 2]", ids)
	}
}

// TestMatchMySQL finds rows with IN on MySQL/MariaDB, across a key
// rotation: a blind index in an indexed VARBINARY column (MySQL indexes a
// BLOB only by a prefix), a deterministic value in a LONGBLOB and an
// armored one in a TEXT column under the database's case-insensitive
// collation.
func TestMatchMySQL(t *testing.T) {
	e := newMySQL(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE p (id int PRIMARY KEY, tenant_id VARBINARY(64) NOT NULL,
		email LONGBLOB, email_bidx VARBINARY(16), ssn LONGBLOB, ssn_text TEXT, INDEX (email_bidx))`)
	email := sqltypes.NewColumn[string](e.enc, "p", "email", sqltypes.WithTag("blindindex:email_bidx,normalize:lower+trim"))
	ssn := sqltypes.NewColumn[string](e.enc, "p", "ssn", sqltypes.WithTag("deterministic"))
	ssnText := sqltypes.NewColumn[string](e.enc, "p", "ssn_text", sqltypes.WithTag("deterministic"), sqltypes.WithTag("armor"))
	insert := func(id int, tenant, mail, s string) {
		t.Helper()
		idx, err := email.BlindIndex(ctx, tenant, mail)
		if err != nil {
			t.Fatalf("BlindIndex: %v", err)
		}
		mustExec(t, e.db, `INSERT INTO p VALUES (?, ?, ?, ?, ?, ?)`, id, tenant,
			email.Value(ctx, tenant, mail), idx, ssn.Value(ctx, tenant, s), ssnText.Value(ctx, tenant, s))
	}
	// find returns the ids of tenant's rows whose column is one of cands.
	find := func(column, tenant string, cands [][]byte, armored bool) []int {
		t.Helper()
		if len(cands) == 0 {
			return nil
		}
		args := []any{tenant}
		for _, c := range cands {
			if armored {
				args = append(args, string(c)) // Match armors them already
			} else {
				args = append(args, c)
			}
		}
		q := `SELECT id FROM p WHERE tenant_id = ? AND ` + column + ` IN (?` + strings.Repeat(", ?", len(cands)-1) + `) ORDER BY id`
		rows, err := e.db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("Query(%s): %v", column, err)
		}
		defer rows.Close()
		var ids []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				t.Fatalf("Scan: %v", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("Rows: %v", err)
		}
		return ids
	}

	insert(1, "acme", "Ann@Example.com", "111-11-1111")
	insert(2, "acme", "bob@example.com", "222-22-2222")
	insert(3, "globex", "ann@example.com", "111-11-1111")
	if _, err := e.keys.Rotate(ctx, "acme"); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	insert(4, "acme", " ann@example.COM ", "111-11-1111")

	mailCands, err := email.Match(ctx, "acme", "ANN@example.com")
	if err != nil || len(mailCands) != 1 {
		t.Fatalf("email.Match after one rotation = %d candidates, %v; want 1 (the index key is not rotated)", len(mailCands), err)
	}
	ssnCands, err := ssn.Match(ctx, "acme", "111-11-1111")
	if err != nil || len(ssnCands) != 2 {
		t.Fatalf("ssn.Match after one rotation = %d candidates, %v; want 2", len(ssnCands), err)
	}
	textCands, err := ssnText.Match(ctx, "acme", "111-11-1111")
	if err != nil || len(textCands) != 2 {
		t.Fatalf("ssnText.Match after one rotation = %d candidates, %v; want 2", len(textCands), err)
	}
	for _, tc := range []struct {
		column  string
		cands   [][]byte
		armored bool
	}{
		{"email_bidx", mailCands, false},
		{"ssn", ssnCands, false},
		{"ssn_text", textCands, true},
	} {
		if ids := find(tc.column, "acme", tc.cands, tc.armored); len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
			t.Errorf("find(%s, acme, 111/ann) = %v, want [1 4] (before and after the rotation)", tc.column, ids)
		}
	}
	globex, err := email.Match(ctx, "globex", "ann@example.com")
	if err != nil {
		t.Fatalf("email.Match(globex) = %v", err)
	}
	if ids := find("email_bidx", "globex", globex, false); len(ids) != 1 || ids[0] != 3 {
		t.Errorf("find(email_bidx, globex, ann) = %v, want [3]", ids)
	}
	none, err := email.Match(ctx, "acme", "carol@example.com")
	if err != nil {
		t.Fatalf("email.Match(carol) = %v", err)
	}
	if ids := find("email_bidx", "acme", none, false); len(ids) != 0 {
		t.Errorf("find(email_bidx, acme, carol) = %v, want none", ids)
	}

	// The rows read back through the Columns.
	var gotMail, gotSSN, gotText string
	if err := e.db.QueryRowContext(ctx, `SELECT email, ssn, ssn_text FROM p WHERE id = 4`).
		Scan(email.Scan(ctx, "acme", &gotMail), ssn.Scan(ctx, "acme", &gotSSN), ssnText.Scan(ctx, "acme", &gotText)); err != nil {
		t.Fatalf("QueryRow(4).Scan = %v", err)
	}
	if gotMail != " ann@example.COM " || gotSSN != "111-11-1111" || gotText != "111-11-1111" {
		t.Errorf("row 4 = %q, %q, %q; want the values written", gotMail, gotSSN, gotText)
	}
}

func TestLookupErrors(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	plain := sqltypes.NewColumn[string](e.enc, "p", "v")
	if _, err := plain.Match(ctx, "acme", "x"); !errors.Is(err, sqltypes.ErrNoLookup) {
		t.Errorf("Match on a randomized column err = %v, want ErrNoLookup", err)
	}
	if _, err := plain.BlindIndex(ctx, "acme", "x"); !errors.Is(err, sqltypes.ErrNoLookup) {
		t.Errorf("BlindIndex without a blind index err = %v, want ErrNoLookup", err)
	}
	det := sqltypes.NewColumn[*string](e.enc, "p", "v", sqltypes.WithTag("deterministic"))
	if c, err := det.Match(ctx, "acme", nil); err != nil || c == nil || len(c) != 0 {
		t.Errorf("Match(NULL) = %v, %v; want an empty, non-nil list", c, err)
	}
	if _, err := det.Match(ctx, "", ptr("x")); !errors.Is(err, field.ErrNoTenant) {
		t.Errorf("Match without tenant err = %v, want ErrNoTenant", err)
	}
	// Deterministic candidates are exactly what Seal stores.
	v, _ := det.Seal(ctx, "acme", ptr("x"))
	c, err := det.Match(ctx, "acme", ptr("x"))
	if err != nil || len(c) != 1 || !bytes.Equal(c[0], v) || !codec.IsValue(v) {
		t.Errorf("Match(x) = %x, %v; want [%x]", c, err, v)
	}
	// A blind index differs per tenant and per column.
	bidxTag := "blindindex:v_bidx"
	a := sqltypes.NewColumn[string](e.enc, "p", "v", sqltypes.WithTag(bidxTag))
	b := sqltypes.NewColumn[string](e.enc, "p", "w", sqltypes.WithTag(bidxTag))
	got := map[string]bool{}
	for _, x := range []struct {
		col    *sqltypes.Column[string]
		tenant string
	}{{a, "acme"}, {a, "globex"}, {b, "acme"}} {
		idx, err := x.col.BlindIndex(ctx, x.tenant, "same")
		if err != nil {
			t.Fatal(err)
		}
		got[string(idx)] = true
	}
	if len(got) != 3 {
		t.Errorf("blind indexes of one value in 3 (tenant, column) scopes: %d distinct, want 3", len(got))
	}
}
