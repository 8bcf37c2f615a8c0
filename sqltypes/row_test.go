package sqltypes_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// rowBackends is one backend per database kind: SQLite, MySQL/MariaDB,
// Postgres through database/sql and through native pgx.
func rowBackends(t *testing.T) []*backend {
	pg := newPG(t)
	return []*backend{
		sqliteBackend(t),
		mysqlBackend(t),
		sqlBackend("database/sql+pgx", "bytea", pg.db, pg.enc, dollar),
		pgxBackend(pgx.QueryExecModeCacheStatement, pg.pool, pg.db, pg.enc),
	}
}

// TestRowBinding: a column bound to its row (WithTag("bind"), Row) round-trips,
// binary and armored; its value copied by SQL into another row of the
// same tenant fails with codec.ErrAuth while an unbound column's copy
// still opens (unchanged behaviour); and a bound column without its row
// key fails with field.ErrNoRowKey and writes nothing.
func TestRowBinding(t *testing.T) {
	for i, b := range rowBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			tbl := "bound_people_" + string(rune('a'+i))
			if err := b.exec(ctx, `CREATE TABLE `+tbl+` (id varchar(64) PRIMARY KEY, tenant_id varchar(64), ssn `+b.blob+`, arm text, note `+b.blob+`)`); err != nil {
				t.Fatalf("CREATE TABLE: %v", err)
			}
			ssn := sqltypes.NewColumn[string](b.enc, tbl, "ssn", sqltypes.WithTag("bind"))
			arm := sqltypes.NewColumn[string](b.enc, tbl, "arm", sqltypes.WithTag("bind"), sqltypes.WithTag("armor"), sqltypes.WithTag("deterministic"))
			note := sqltypes.NewColumn[string](b.enc, tbl, "note")
			insert := b.sub(`INSERT INTO ` + tbl + ` VALUES (?, ?, ?, ?, ?)`)
			for _, id := range []string{"r1", "r2"} {
				if err := b.exec(ctx, insert, id, "acme", ssn.Row(id).Value(ctx, "acme", "ssn of "+id),
					arm.Row(id).Value(ctx, "acme", "arm of "+id), note.Value(ctx, "acme", "note of "+id)); err != nil {
					t.Fatalf("INSERT %s: %v", id, err)
				}
			}

			// Round trip, the row key scanned before the bound columns.
			read := func(id string) (s, a, n string, err error) {
				var gotID string
				err = b.row(ctx, b.sub(`SELECT id, ssn, arm, note FROM `+tbl+` WHERE id = ?`), id).Scan(&gotID,
					ssn.Row(&gotID).Scan(ctx, "acme", &s), arm.Row(&gotID).Scan(ctx, "acme", &a), note.Scan(ctx, "acme", &n))
				return
			}
			for _, id := range []string{"r1", "r2"} {
				s, a, n, err := read(id)
				if err != nil || s != "ssn of "+id || a != "arm of "+id || n != "note of "+id {
					t.Fatalf("read(%s) = %q, %q, %q, %v", id, s, a, n, err)
				}
			}

			// Copy r1's values into r2 by SQL.
			var rawSSN, rawArm, rawNote []byte
			if err := b.row(ctx, b.sub(`SELECT ssn, arm, note FROM `+tbl+` WHERE id = ?`), "r1").Scan(&rawSSN, &rawArm, &rawNote); err != nil {
				t.Fatal(err)
			}
			if err := b.exec(ctx, b.sub(`UPDATE `+tbl+` SET ssn = ?, note = ? WHERE id = ?`), rawSSN, rawNote, "r2"); err != nil {
				t.Fatal(err)
			}
			var gotID, s string
			err := b.row(ctx, b.sub(`SELECT id, ssn FROM `+tbl+` WHERE id = ?`), "r2").Scan(&gotID, ssn.Row(&gotID).Scan(ctx, "acme", &s))
			if !errors.Is(err, codec.ErrAuth) || s != "" {
				t.Errorf("bound value copied to r2: Scan = %q, %v; want codec.ErrAuth", s, err)
			}
			if err != nil && strings.Contains(err.Error(), "r1") {
				t.Errorf("error %q names a row key", err)
			}
			var n string
			if err := b.row(ctx, b.sub(`SELECT note FROM `+tbl+` WHERE id = ?`), "r2").Scan(note.Scan(ctx, "acme", &n)); err != nil || n != "note of r1" {
				t.Errorf("unbound value copied to r2 = %q, %v; want it to open as before (note of r1)", n, err)
			}
			if err := b.exec(ctx, b.sub(`UPDATE `+tbl+` SET arm = ? WHERE id = ?`), string(rawArm), "r2"); err != nil {
				t.Fatal(err)
			}
			var a string
			err = b.row(ctx, b.sub(`SELECT arm FROM `+tbl+` WHERE id = ?`), "r2").Scan(arm.Row("r2").Scan(ctx, "acme", &a))
			if !errors.Is(err, codec.ErrAuth) {
				t.Errorf("bound deterministic armored value copied to r2: Scan = %q, %v; want codec.ErrAuth", a, err)
			}

			// No row key: an error, nothing written.
			for name, v := range map[string]any{
				"no Row":    ssn.Value(ctx, "acme", "x"),
				"empty key": ssn.Row("").Value(ctx, "acme", "x"),
			} {
				err := b.exec(ctx, insert, "r3", "acme", v, nil, nil)
				var rke *fieldcore.RowKeyError
				if !errors.Is(err, field.ErrNoRowKey) || !errors.As(err, &rke) {
					t.Errorf("INSERT with %s err = %v, want a *fieldcore.RowKeyError matching ErrNoRowKey", name, err)
				}
			}
			var count int
			if err := b.row(ctx, `SELECT count(*) FROM `+tbl).Scan(&count); err != nil || count != 2 {
				t.Errorf("rows after refused inserts = %d, %v; want 2", count, err)
			}
			if _, err := ssn.Open(ctx, "acme", rawSSN); !errors.Is(err, field.ErrNoRowKey) {
				t.Errorf("Open without Row err = %v, want ErrNoRowKey", err)
			}
			if _, err := ssn.Row("r1").SealBatch(ctx, "acme", []string{"a"}); err == nil {
				t.Errorf("SealBatch of a bound column err = nil, want an error")
			}
			if _, err := arm.Match(ctx, "acme", "arm of r1"); !errors.Is(err, sqltypes.ErrNoLookup) {
				t.Errorf("Match of a bound deterministic column err = %v, want ErrNoLookup", err)
			}
		})
	}
}

// TestRowBindingParallelSeal: ParallelSeal seals each Row's value with
// its own key.
func TestRowBindingParallelSeal(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	ssn := sqltypes.NewColumn[string](e.enc, "p", "ssn", sqltypes.WithTag("bind"))
	ids := []string{"a", "b", "c"}
	src := sqltypes.ParallelSeal(&valueRows{ids: ids, col: ssn}, 2)
	i := 0
	for src.Next() {
		vals, err := src.Values()
		if err != nil {
			t.Fatal(err)
		}
		v, err := vals[0].(driver.Valuer).Value()
		if err != nil {
			t.Fatal(err)
		}
		stored := v.([]byte)
		if got, err := ssn.Row(ids[i]).Open(ctx, "acme", stored); err != nil || got != "v"+ids[i] {
			t.Errorf("Open(row %s) = %q, %v", ids[i], got, err)
		}
		if _, err := ssn.Row("other").Open(ctx, "acme", stored); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("Open(row %s under another key) err = %v, want codec.ErrAuth", ids[i], err)
		}
		i++
	}
	if err := src.Err(); err != nil || i != len(ids) {
		t.Fatalf("ParallelSeal: %d rows, %v", i, err)
	}
}

func TestRowOnUnboundColumnPanics(t *testing.T) {
	e := newSQLite(t)
	c := sqltypes.NewColumn[string](e.enc, "p", "ssn")
	defer func() {
		if recover() == nil {
			t.Errorf("Row on a column without bind did not panic")
		}
	}()
	c.Row("r1")
}

type valueRows struct {
	ids []string
	col *sqltypes.Column[string]
	i   int
}

func (r *valueRows) Next() bool { r.i++; return r.i <= len(r.ids) }
func (r *valueRows) Values() ([]any, error) {
	id := r.ids[r.i-1]
	return []any{r.col.Row(id).Value(context.Background(), "acme", "v"+id)}, nil
}
func (r *valueRows) Err() error { return nil }
