package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

func TestParseIndexFlag(t *testing.T) {
	cases := []struct {
		in           string
		name, column string
		bits, parts  int
		rotating     bool
		err          string // a piece of the usage error; "" for none
	}{
		{in: "name=ssn_zip,column=ssn_zip_idx,parts=ssn/digits/last4+zip/trim,bits=32", name: "ssn_zip", column: "ssn_zip_idx", bits: 32, parts: 2},
		{in: "parts=ssn/digits , name = ssn_full", name: "ssn_full", column: "ssn_full", bits: 128, parts: 1},
		{in: "name=a,parts=x+y+z,bits=16", name: "a", column: "a", bits: 16, parts: 3},
		{in: "", err: "empty item"},
		{in: "name=a,,parts=x", err: "empty item"},
		{in: "name=a", err: "give name= and parts="},
		{in: "parts=x", err: "give name= and parts="},
		{in: "name=a,parts=x,name=b", err: "given twice"},
		{in: "name=a,parts=x,colum=c", err: "unknown key"},
		{in: "name,parts=x", err: "not key=value"},
		{in: "name=,parts=x", err: "not key=value"},
		{in: "name=a,parts=x,bits=many", err: "not a number"},
		{in: "name=a,parts=x,bits=8", err: "bits"},
		{in: "name=a,parts=x,bits=512", err: "bits"},
		{in: "name=a,parts=x/upperish", err: "upperish"},
		{in: "name=1a,parts=x", err: "name"},
		{in: "name=a:b,parts=x", err: "':'"},
		{in: "name=a,parts=x:y", err: "':'"},
		{in: "name=a,parts=x+", err: "empty"},
		{in: "name=a,parts=x//lower", err: "empty"},
		{in: "name=a,parts=x/last0", err: "last0"},
		{in: "name=a,parts=a+b+c+d+e+f+g+h+i", err: "parts"},
		{in: "name=a,parts=x,indexkey=rotating", name: "a", column: "a", bits: 128, parts: 1, rotating: true},
		{in: "name=a,parts=x,indexkey=stable", name: "a", column: "a", bits: 128, parts: 1},
		{in: "name=a,parts=x,indexkey=legacy", err: "rotating"},
		{in: "name=a,parts=x,indexkey=sideways", err: "sideways"},
	}
	for _, tc := range cases {
		x, err := parseIndexFlag(tc.in)
		if tc.err != "" {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseIndexFlag(%q) = %v, want a usage error about %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || x.Index.Name != tc.name || x.Column != tc.column || x.Index.Bits != tc.bits || len(x.Index.Parts) != tc.parts ||
			(x.Index.Keying == field.IndexRotating) != tc.rotating {
			t.Errorf("parseIndexFlag(%q) = %+v, %v; want %s in %s, %d bits, %d parts", tc.in, x, err, tc.name, tc.column, tc.bits, tc.parts)
		}
	}
}

func FuzzParseIndexFlag(f *testing.F) {
	for _, s := range []string{
		"name=ssn_zip,column=ssn_zip_idx,parts=ssn/digits/last4+zip/trim,bits=32",
		"name=a,parts=x", "name=a,parts=x/first3/lower+y/initial,bits=24", "", ",", "name=a:b,parts=x",
		"name=a,parts=x,bits=-1", "parts=x+y,name=é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := parseIndexFlag(s)
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Fatalf("parseIndexFlag(%q) = %v, want a usage error", s, err)
			}
			return
		}
		// What was accepted is a checked index: computing it works.
		if x.Column == "" || x.Index == nil || !strings.Contains(s, x.Index.Name) {
			t.Fatalf("parseIndexFlag(%q) = %+v", s, x)
		}
		if _, err := x.Index.Input(nil, make([][]byte, len(x.Index.Parts))); err != nil {
			t.Fatalf("parseIndexFlag(%q): Input = %v", s, err)
		}
	})
}

// TestMigrateIndexes: migrate encrypt fills a named index, migrate index
// adds a compound one over the encrypted column and a plain one, both
// being what sqltypes.NewIndex looks up; verify checks them and finds a
// damaged one; bad definitions are usage errors and write nothing.
func TestMigrateIndexes(t *testing.T) {
	const n = 400
	for _, dialect := range []string{"postgres", "sqlite", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, dialect)
			f.users(n)
			blob, text := "bytea", "text"
			switch dialect {
			case "sqlite":
				blob = "BLOB"
			case "mysql":
				blob, text = "VARBINARY(32)", "VARCHAR(40)"
			}
			for _, c := range []string{"email_first5 " + blob, "email_city " + blob, "city " + text} {
				f.exec("ALTER TABLE users ADD COLUMN " + c)
			}
			f.exec("UPDATE users SET city = CASE WHEN id % 2 = 0 THEN ' Paris' ELSE 'Lyon ' END")
			f.mustRun(exitOK, "keys", "init")
			cityOf := func(id int64) string { return []string{"Lyon", "Paris"}[1-id%2] }

			nonNull := int64(n - n/50)
			first5 := "name=email_first5,parts=email/lower/first5,bits=32"
			enc := decodeJSON[resultJSON](t, f.mustRun(exitOK, "migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_enc",
				"--tenant-column", "tenant", "--index", first5, "-o", "json").stdout)
			if enc.Updated != nonNull {
				t.Fatalf("migrate encrypt = %+v", enc.Result)
			}
			// Bad definitions: usage errors, nothing written.
			col := []string{"--table", "users", "--column", "email_enc", "--tenant-column", "tenant"}
			for _, tc := range []struct {
				args []string
				code int
				msg  string
			}{
				{nil, exitUsage, "--index"},
				{[]string{"--index", "name=x"}, exitUsage, "parts="},
				{[]string{"--index", "name=x,parts=email_enc/bogus,column=email_city"}, exitUsage, "bogus"},
				{[]string{"--index", "name=x,parts=city,column=email_city"}, exitUsage, "must be one of its parts"},
				{[]string{"--index", "name=x,parts=email_enc+nope,column=email_city"}, exitFailure, "nope"},
				{[]string{"--index", "name=x,parts=email_enc,column=city"}, exitFailure, "binary"},
				{[]string{"--index", "name=x,parts=email_enc,column=email_city", "--index", "name=x,parts=email_enc,column=email_first5"}, exitUsage, "twice"},
			} {
				r := f.mustRun(tc.code, append(append([]string{"migrate", "index"}, col...), tc.args...)...)
				if !strings.Contains(r.stderr, tc.msg) {
					t.Errorf("migrate index %v: stderr %q, want %q", tc.args, r.stderr, tc.msg)
				}
			}
			if got := f.scalar("SELECT count(*) FROM users WHERE email_city IS NOT NULL"); got != 0 {
				t.Fatalf("%d rows indexed by refused jobs", got)
			}

			emailCity := "name=email_city,parts=email_enc/trim/lower+city/trim,bits=64"
			res := decodeJSON[resultJSON](t, f.mustRun(exitOK, append(append([]string{"migrate", "index", "-o", "json"}, col...), "--index", emailCity)...).stdout)
			if res.Updated != nonNull || res.Null != n/50 || res.Failed != 0 {
				t.Fatalf("migrate index = %+v", res.Result)
			}

			// The application's lookups find the rows.
			e := f.encryptor(f.kmsURL)
			ix5, err := sqltypes.NewIndex(e, "users", "index:email_first5,parts:email/lower/first5,bits:32")
			if err != nil {
				t.Fatal(err)
			}
			ixc, err := sqltypes.NewIndex(e, "users", "index:email_city,parts:email/trim/lower+city/trim,bits:64")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []int64{7, 123, n - 1} {
				email, _ := emailOf(id)
				for _, tc := range []struct {
					x      *sqltypes.Index
					column string
					values []any
				}{
					{ix5, "email_first5", []any{strings.ToUpper(email)}},
					{ixc, "email_city", []any{" " + email, cityOf(id)}},
				} {
					cands, err := tc.x.Match(ctx, tenantOf(id), tc.values...)
					if err != nil || len(cands) != 1 {
						t.Fatalf("Match = %x, %v", cands, err)
					}
					var got int64
					q := fmt.Sprintf("SELECT count(*) FROM users WHERE id = %d AND tenant = '%s' AND %s = ", id, tenantOf(id), tc.column)
					if dialect == "postgres" {
						q += "$1"
					} else {
						q += "?"
					}
					if err := f.db.QueryRow(q, cands[0]).Scan(&got); err != nil || got != 1 {
						t.Errorf("row %d not found by %s: %d, %v", id, tc.column, got, err)
					}
				}
			}

			verify := append(append([]string{"migrate", "verify", "-o", "json"}, col...), "--index", emailCity, "--index", strings.Replace(first5, "parts=email/", "parts=email_enc/", 1))
			rep := decodeJSON[reportJSON](t, f.mustRun(exitOK, verify...).stdout)
			if !rep.OK || rep.IndexMismatch != 0 || rep.Encrypted != nonNull {
				t.Fatalf("migrate verify = %+v", rep.Report)
			}
			f.exec("UPDATE users SET email_city = NULL WHERE id = 7")
			rep = decodeJSON[reportJSON](t, f.mustRun(exitProblems, verify...).stdout)
			if rep.OK || rep.IndexMismatch != 1 {
				t.Fatalf("migrate verify after damage = %+v", rep.Report)
			}
			// Running the finished job again re-checks it and says so; with
			// --restart it repairs the row.
			f.mustRun(exitProblems, append(append([]string{"migrate", "index"}, col...), "--index", emailCity)...)
			res = decodeJSON[resultJSON](t, f.mustRun(exitOK, append(append([]string{"migrate", "index", "--restart", "-o", "json"}, col...), "--index", emailCity)...).stdout)
			if res.Updated != 1 || res.Skipped != nonNull-1 {
				t.Fatalf("migrate index --restart = %+v", res.Result)
			}
		})
	}
}
