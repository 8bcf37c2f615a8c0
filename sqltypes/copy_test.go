package sqltypes_test

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/sqltypes"
	"github.com/colcrypt/colcrypt/testhelpers"
)

type person struct {
	Name  string
	Email *string
}

func people(n int) []person {
	ps := make([]person, n)
	for i := range ps {
		ps[i].Name = fmt.Sprintf("person number %06d with a name", i)
		if i%3 != 0 {
			ps[i].Email = ptr(fmt.Sprintf("p%06d@example.com", i))
		}
	}
	return ps
}

// TestCopyFrom loads rows with pgx's CopyFrom in every way the package
// supports and reads them back.
func TestCopyFrom(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, tenant_id text NOT NULL, name bytea, email text)`)
	name := sqltypes.NewColumn[string](pg.enc, "p", "name")
	email := sqltypes.NewColumn[*string](pg.enc, "p", "email", sqltypes.WithTag("armor"))
	const n = 1000
	ps := people(n)
	cols := []string{"id", "tenant_id", "name", "email"}
	tenantOf := func(i int) string { return []string{"acme", "globex"}[i%2] }

	valuerRow := func(base, i int) []any {
		t := tenantOf(i)
		return []any{base + i, t, name.Value(ctx, t, ps[i].Name), email.Value(ctx, t, ps[i].Email)}
	}
	sources := []struct {
		name string
		src  func(base int) pgx.CopyFromSource
	}{
		{"CopyFromRows", func(base int) pgx.CopyFromSource {
			rows := make([][]any, n)
			for i := range rows {
				rows[i] = valuerRow(base, i)
			}
			return pgx.CopyFromRows(rows)
		}},
		{"CopyFromSlice", func(base int) pgx.CopyFromSource {
			return pgx.CopyFromSlice(n, func(i int) ([]any, error) { return valuerRow(base, i), nil })
		}},
		{"Seal", func(base int) pgx.CopyFromSource {
			return pgx.CopyFromSlice(n, func(i int) ([]any, error) {
				t := tenantOf(i)
				nb, err := name.Seal(ctx, t, ps[i].Name)
				if err != nil {
					return nil, err
				}
				eb, err := email.Seal(ctx, t, ps[i].Email)
				if err != nil {
					return nil, err
				}
				return []any{base + i, t, nb, eb}, nil
			})
		}},
		{"SealBatch", func(base int) pgx.CopyFromSource {
			// One batch per tenant, as SealBatch wants.
			rows := make([][]any, 0, n)
			for _, tenant := range []string{"acme", "globex"} {
				var idx []int
				var names []string
				var emails []*string
				for i := range ps {
					if tenantOf(i) == tenant {
						idx = append(idx, i)
						names = append(names, ps[i].Name)
						emails = append(emails, ps[i].Email)
					}
				}
				nb, err := name.SealBatch(ctx, tenant, names)
				if err != nil {
					t.Fatal(err)
				}
				eb, err := email.SealBatch(ctx, tenant, emails)
				if err != nil {
					t.Fatal(err)
				}
				for j, i := range idx {
					// An armored column's bytes go to a text column: pgx
					// encodes []byte as text. nil stays NULL.
					rows = append(rows, []any{base + i, tenant, nb[j], eb[j]})
				}
			}
			return pgx.CopyFromRows(rows)
		}},
		{"ParallelSeal", func(base int) pgx.CopyFromSource {
			return sqltypes.ParallelSeal(pgx.CopyFromSlice(n, func(i int) ([]any, error) { return valuerRow(base, i), nil }), 0)
		}},
		{"ParallelSeal/reused slice", func(base int) pgx.CopyFromSource {
			row := make([]any, 4)
			return sqltypes.ParallelSeal(pgx.CopyFromFunc(func() ([]any, error) {
				i := row[0]
				next := 0
				if i != nil {
					next = i.(int) - base + 1
				}
				if next == n {
					return nil, nil
				}
				copy(row, valuerRow(base, next))
				return row, nil
			}), 3)
		}},
	}
	for si, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			base := (si + 1) * 10000
			got, err := pg.pool.CopyFrom(ctx, pgx.Identifier{"p"}, cols, s.src(base))
			if err != nil || got != n {
				t.Fatalf("CopyFrom = %d, %v; want %d", got, err, n)
			}
			rows, err := pg.pool.Query(ctx, `SELECT id, tenant_id, name, email, email IS NULL FROM p WHERE id >= $1 AND id < $2 ORDER BY id`, base, base+n)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			i := 0
			for rows.Next() {
				var id int
				var tenant, gotName string
				var gotEmail *string
				var isNull bool
				if err := rows.Scan(&id, &tenant, name.ScanTenant(ctx, &tenant, &gotName), email.ScanTenant(ctx, &tenant, &gotEmail), &isNull); err != nil {
					t.Fatalf("row %d: Scan: %v", i, err)
				}
				want := ps[i]
				if id != base+i || tenant != tenantOf(i) || gotName != want.Name || !equal(gotEmail, want.Email) || isNull != (want.Email == nil) {
					t.Fatalf("row %d = %d %s %q %v null=%v, want %d %s %q %v", i, id, tenant, gotName, gotEmail, isNull, base+i, tenantOf(i), want.Name, want.Email)
				}
				i++
			}
			if err := rows.Err(); err != nil || i != n {
				t.Fatalf("read back %d rows, %v; want %d", i, err, n)
			}
		})
	}
	testhelpers.AssertNoPlaintext(t, pg.db, "p", "name", ps[1].Name, ps[n-1].Name)
	testhelpers.AssertNoPlaintext(t, pg.db, "p", "email", *ps[1].Email, *ps[n-2].Email)
}

// TestCopyFromErrors: a value that cannot be sealed aborts the copy with
// its error, and nothing is written.
func TestCopyFromErrors(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, name bytea)`)
	name := sqltypes.NewColumn[string](pg.enc, "p", "name")
	const n, bad = 2000, 1500
	row := func(i int) []any {
		tenant := "acme"
		if i == bad {
			tenant = ""
		}
		return []any{i, name.Value(ctx, tenant, "x")}
	}
	// pgx sends a source's error to the server as the reason the COPY
	// failed, and returns the server's error: the text survives, the error
	// value does not.
	_, err := pg.pool.CopyFrom(ctx, pgx.Identifier{"p"}, []string{"id", "name"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }))
	if err == nil || !strings.Contains(err.Error(), "sqltypes: seal p.name: field: no tenant") {
		t.Errorf("CopyFromSlice: CopyFrom with an unsealable value err = %v, want the seal error's text", err)
	}
	// ParallelSeal's source keeps the error value.
	src := sqltypes.ParallelSeal(pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }), 0)
	_, err = pg.pool.CopyFrom(ctx, pgx.Identifier{"p"}, []string{"id", "name"}, src)
	if err == nil || !errors.Is(src.Err(), field.ErrNoTenant) {
		t.Errorf("ParallelSeal: CopyFrom err = %v, source Err = %v; want an error, and ErrNoTenant from Err", err, src.Err())
	}
	var count int
	if err := pg.pool.QueryRow(ctx, `SELECT count(*) FROM p`).Scan(&count); err != nil || count != 0 {
		t.Errorf("rows after failed copies = %d, %v; want 0", count, err)
	}
}

// sliceSource is a CopyFromSource over rows that reuses one []any, with
// an error at row failAt from Values and srcErr from Err.
type sliceSource struct {
	rows   [][]any
	i      int
	buf    []any
	failAt int
	srcErr error
}

func (s *sliceSource) Next() bool { s.i++; return s.i <= len(s.rows) }
func (s *sliceSource) Values() ([]any, error) {
	if s.i-1 == s.failAt {
		return nil, errBadRow
	}
	s.buf = append(s.buf[:0], s.rows[s.i-1]...)
	return s.buf, nil
}
func (s *sliceSource) Err() error { return s.srcErr }

var errBadRow = errors.New("bad row")

func TestParallelSeal(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	col := sqltypes.NewColumn[int](e.enc, "p", "v")
	mk := func(n int) [][]any {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{i, col.Value(ctx, "acme", i), "other"}
		}
		return rows
	}
	drain := func(src sqltypes.CopyFromSource) (n int, err error) {
		for src.Next() {
			vals, err := src.Values()
			if err != nil {
				if !errors.Is(src.Err(), err) {
					return n, fmt.Errorf("Values err = %v but Err() = %v", err, src.Err())
				}
				return n, err
			}
			if len(vals) != 3 || vals[0] != n || vals[2] != "other" {
				return n, fmt.Errorf("row %d = %v", n, vals)
			}
			v, err := vals[1].(driver.Valuer).Value()
			if err != nil {
				return n, err
			}
			got, err := col.Open(ctx, "acme", v.([]byte))
			if err != nil || got != n {
				return n, fmt.Errorf("row %d opens to %d, %v", n, got, err)
			}
			n++
		}
		return n, src.Err()
	}

	for _, n := range []int{0, 1, 255, 256, 257, 3000} {
		for _, workers := range []int{0, 1, 4} {
			got, err := drain(sqltypes.ParallelSeal(&sliceSource{rows: mk(n), failAt: -1}, workers))
			if err != nil || got != n {
				t.Errorf("ParallelSeal(%d rows, %d workers) = %d rows, %v; want %d rows in order", n, workers, got, err, n)
			}
		}
	}

	t.Run("source error", func(t *testing.T) {
		got, err := drain(sqltypes.ParallelSeal(&sliceSource{rows: mk(600), failAt: 400}, 2))
		if !errors.Is(err, errBadRow) || got != 400 {
			t.Errorf("drain = %d, %v; want 400 rows, then errBadRow", got, err)
		}
		srcErr := errors.New("source failed")
		if _, err := drain(sqltypes.ParallelSeal(&sliceSource{rows: mk(10), failAt: -1, srcErr: srcErr}, 2)); !errors.Is(err, srcErr) {
			t.Errorf("drain err = %v, want the source's Err", err)
		}
	})
	t.Run("seal error", func(t *testing.T) {
		rows := mk(700)
		rows[500][1] = col.Value(ctx, "", 500)
		got, err := drain(sqltypes.ParallelSeal(&sliceSource{rows: rows, failAt: -1}, 2))
		if !errors.Is(err, field.ErrNoTenant) || got != 500 {
			t.Errorf("drain = %d, %v; want 500 rows, then ErrNoTenant", got, err)
		}
	})
}

func TestSealBatch(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	for _, opts := range [][]sqltypes.Option{
		nil,
		{sqltypes.WithTag("armor")},
		{sqltypes.WithTag("deterministic")},
		{sqltypes.WithTag("deterministic"), sqltypes.WithTag("armor")},
	} {
		col := sqltypes.NewColumn[*string](e.enc, "p", "v", opts...)
		for _, n := range []int{0, 1, 1023, 5000} {
			vs := make([]*string, n)
			for i := range vs {
				if i%7 != 3 {
					vs[i] = ptr(fmt.Sprintf("value %d", i))
				}
			}
			if n > 10 {
				vs[10] = ptr("")
			}
			got, err := col.SealBatch(ctx, "acme", vs)
			if err != nil || len(got) != n {
				t.Fatalf("SealBatch(%d values) = %d, %v", n, len(got), err)
			}
			for i, b := range got {
				if vs[i] == nil {
					if b != nil {
						t.Fatalf("SealBatch: value %d is NULL, got %x", i, b)
					}
					continue
				}
				v, err := col.Open(ctx, "acme", b)
				if err != nil || v == nil || *v != *vs[i] {
					t.Fatalf("Open(SealBatch()[%d]) = %v, %v; want %q", i, v, err, *vs[i])
				}
				if one, _ := col.Seal(ctx, "acme", vs[i]); len(one) != len(b) {
					t.Fatalf("SealBatch()[%d] is %d bytes, Seal gives %d", i, len(b), len(one))
				}
			}
			// Each value has its own capacity: appending to one cannot
			// overwrite the next.
			if n > 2 && got[0] != nil && got[1] != nil {
				next := bytes.Clone(got[1])
				_ = append(got[0], 'X')
				if !bytes.Equal(got[1], next) {
					t.Fatalf("append to SealBatch()[0] changed [1]")
				}
			}
		}
	}

	col := sqltypes.NewColumn[string](e.enc, "p", "v")
	if _, err := col.SealBatch(ctx, "", []string{"x"}); !errors.Is(err, field.ErrNoTenant) {
		t.Errorf("SealBatch without tenant err = %v, want ErrNoTenant", err)
	}
	bad := make([]map[string]any, 3000)
	bad[2500] = map[string]any{"c": make(chan int)}
	if _, err := sqltypes.NewColumn[map[string]any](e.enc, "p", "v").SealBatch(ctx, "acme", bad); !errors.Is(err, sqltypes.ErrEncode) || !strings.Contains(err.Error(), "value 2500") {
		t.Errorf("SealBatch with an unencodable value err = %v, want ErrEncode naming value 2500", err)
	}
	if err := e.keys.Shred(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := col.SealBatch(ctx, "acme", []string{"x"}); !errors.Is(err, keystore.ErrKeyDestroyed) {
		t.Errorf("SealBatch after Shred err = %v, want ErrKeyDestroyed", err)
	}
}
