package sqltypes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// TestPgxParameterFormat checks what pgx puts on the wire for a Valuer:
// the binary value in the binary format for a bytea parameter, the armor
// as text for a text parameter, and a bytea hex literal when the
// parameter type is unknown (QueryExecModeExec sends text).
func TestPgxParameterFormat(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	bin := sqltypes.NewColumn[string](e.enc, "p", "b")
	arm := sqltypes.NewColumn[string](e.enc, "p", "a", sqltypes.WithTag("armor"))
	m := pgtype.NewMap()

	bv, av := bin.Value(ctx, "acme", "secret"), arm.Value(ctx, "acme", "secret")
	wantB, err := bv.Value()
	if err != nil {
		t.Fatal(err)
	}
	wantA, err := av.Value()
	if err != nil {
		t.Fatal(err)
	}

	var eqb pgx.ExtendedQueryBuilder
	sd := &pgconn.StatementDescription{ParamOIDs: []uint32{pgtype.ByteaOID, pgtype.TextOID}}
	if err := eqb.Build(m, sd, []any{bv, av}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if eqb.ParamFormats[0] != pgtype.BinaryFormatCode || !bytes.Equal(eqb.ParamValues[0], wantB.([]byte)) {
		t.Errorf("bytea parameter = format %d %x, want binary format %x", eqb.ParamFormats[0], eqb.ParamValues[0], wantB)
	}
	if eqb.ParamFormats[1] != pgtype.TextFormatCode || string(eqb.ParamValues[1]) != wantA.(string) {
		t.Errorf("text parameter = format %d %q, want text format %q", eqb.ParamFormats[1], eqb.ParamValues[1], wantA)
	}

	// Unknown parameter types: text format, bytea as a hex literal.
	if err := eqb.Build(m, nil, []any{bv}); err != nil {
		t.Fatalf("Build without description: %v", err)
	}
	if want := fmt.Sprintf(`\x%x`, wantB); string(eqb.ParamValues[0]) != want {
		t.Errorf("untyped parameter = %q, want %q", eqb.ParamValues[0], want)
	}
}

// TestPgxResultFormats reads one stored value in the binary and the text
// result format, and through pgx's generic row scanning.
func TestPgxResultFormats(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, tenant_id text, b bytea, a text)`)
	bin := sqltypes.NewColumn[string](pg.enc, "p", "b")
	arm := sqltypes.NewColumn[string](pg.enc, "p", "a", sqltypes.WithTag("armor"))
	mustPoolExec(t, pg.pool, `INSERT INTO p VALUES (1, 'acme', $1, $2)`, bin.Value(ctx, "acme", "one"), arm.Value(ctx, "acme", "one"))

	conn, err := pg.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, format := range []int16{pgtype.BinaryFormatCode, pgtype.TextFormatCode} {
		rr := conn.Conn().PgConn().ExecParams(ctx, `SELECT b, a FROM p WHERE id = 1`, nil, nil, nil, []int16{format, format})
		n := 0
		for rr.NextRow() {
			n++
			fds := rr.FieldDescriptions()
			var gotB, gotA string
			for i, dst := range []*string{&gotB, &gotA} {
				col := bin
				if i == 1 {
					col = arm
				}
				// pgx's own scan path for a sql.Scanner destination.
				if err := conn.Conn().TypeMap().Scan(fds[i].DataTypeOID, format, rr.Values()[i], col.Scan(ctx, "acme", dst)); err != nil {
					t.Fatalf("format %d: Map.Scan(%s): %v", format, fds[i].Name, err)
				}
			}
			if gotB != "one" || gotA != "one" {
				t.Errorf("format %d: scanned %q, %q; want one, one", format, gotB, gotA)
			}
		}
		if _, err := rr.Close(); err != nil || n != 1 {
			t.Fatalf("format %d: %d rows, %v", format, n, err)
		}
	}

	t.Run("CollectRows", func(t *testing.T) {
		rows, err := pg.pool.Query(ctx, `SELECT tenant_id, b FROM p`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
			var tenant, v string
			err := row.Scan(&tenant, bin.ScanTenant(ctx, &tenant, &v))
			return v, err
		})
		if err != nil || len(got) != 1 || got[0] != "one" {
			t.Errorf("CollectRows = %q, %v; want [one]", got, err)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO p VALUES (2, 'acme', $1, $2)`, bin.Value(ctx, "acme", "two"), arm.Value(ctx, "acme", "two"))
		var gotB, gotA string
		b.Queue(`SELECT b, a FROM p WHERE id = 2`).QueryRow(func(row pgx.Row) error {
			return row.Scan(bin.Scan(ctx, "acme", &gotB), arm.Scan(ctx, "acme", &gotA))
		})
		if err := pg.pool.SendBatch(ctx, b).Close(); err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		if gotB != "two" || gotA != "two" {
			t.Errorf("batch scanned %q, %q; want two, two", gotB, gotA)
		}
	})
}

// TestPgxValueErrors: a Valuer that cannot seal fails the statement with
// its error, in every exec mode and through database/sql, and nothing is
// written.
func TestPgxValueErrors(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, b bytea)`)
	col := sqltypes.NewColumn[string](pg.enc, "p", "b")
	for _, mode := range pgxModes {
		_, err := pg.pool.Exec(ctx, `INSERT INTO p VALUES (1, $1)`, mode, col.Value(ctx, "", "x"))
		if !errors.Is(err, field.ErrNoTenant) {
			t.Errorf("%v: Exec with an unsealable value err = %v, want ErrNoTenant", mode, err)
		}
	}
	if _, err := pg.db.ExecContext(ctx, `INSERT INTO p VALUES (1, $1)`, col.Value(ctx, "", "x")); !errors.Is(err, field.ErrNoTenant) {
		t.Errorf("database/sql Exec with an unsealable value err = %v, want ErrNoTenant", err)
	}
	var n int
	if err := pg.pool.QueryRow(ctx, `SELECT count(*) FROM p`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after failed inserts = %d, %v; want 0", n, err)
	}
}

// TestPgxScanErrors: a scan error comes back from pgx's Scan as an error
// that matches the cause.
func TestPgxScanErrors(t *testing.T) {
	pg := newPG(t)
	ctx := context.Background()
	mustPoolExec(t, pg.pool, `CREATE TABLE p (id int PRIMARY KEY, b bytea, t text)`)
	col := sqltypes.NewColumn[string](pg.enc, "p", "b")
	mustPoolExec(t, pg.pool, `INSERT INTO p VALUES (1, $1, 'plain'), (2, NULL, NULL)`, col.Value(ctx, "acme", "x"))
	for _, mode := range pgxModes {
		var out string
		if err := pg.pool.QueryRow(ctx, `SELECT b FROM p WHERE id = 1`, mode).Scan(col.Scan(ctx, "globex", &out)); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("%v: Scan as another tenant err = %v, want codec.ErrAuth", mode, err)
		}
		if err := pg.pool.QueryRow(ctx, `SELECT t FROM p WHERE id = 1`, mode).Scan(sqltypes.NewColumn[string](pg.enc, "p", "t").Scan(ctx, "acme", &out)); !errors.Is(err, field.ErrNotEncrypted) {
			t.Errorf("%v: Scan of plaintext err = %v, want ErrNotEncrypted", mode, err)
		}
		if err := pg.pool.QueryRow(ctx, `SELECT b FROM p WHERE id = 2`, mode).Scan(col.Scan(ctx, "acme", &out)); !errors.Is(err, field.ErrNull) {
			t.Errorf("%v: Scan of NULL into string err = %v, want ErrNull", mode, err)
		}
	}
}
