package sqltypes_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// rows is what *sql.Rows and pgx.Rows share.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// backend is one way to talk to a database: database/sql with a driver,
// or pgx natively in one QueryExecMode.
type backend struct {
	name  string
	blob  string // the binary column type
	raw   *sql.DB
	enc   *field.Encryptor
	ph    func(n int) string
	exec  func(ctx context.Context, q string, args ...any) error
	row   func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error }
	query func(ctx context.Context, q string, args ...any) (rows, func(), error)
}

// sub rewrites ? placeholders for the backend.
func (b *backend) sub(q string) string {
	var out strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			out.WriteString(b.ph(n))
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}

func sqlBackend(name, blob string, db *sql.DB, enc *field.Encryptor, ph func(int) string) *backend {
	return &backend{
		name: name, blob: blob, raw: db, enc: enc, ph: ph,
		exec: func(ctx context.Context, q string, args ...any) error {
			_, err := db.ExecContext(ctx, q, args...)
			return err
		},
		row: func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
			return db.QueryRowContext(ctx, q, args...)
		},
		query: func(ctx context.Context, q string, args ...any) (rows, func(), error) {
			r, err := db.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, nil, err
			}
			return r, func() { r.Close() }, nil
		},
	}
}

func pgxBackend(mode pgx.QueryExecMode, pool *pgxpool.Pool, db *sql.DB, enc *field.Encryptor) *backend {
	with := func(args []any) []any { return append([]any{mode}, args...) }
	return &backend{
		name: "pgx/" + mode.String(), blob: "bytea", raw: db, enc: enc, ph: dollar,
		exec: func(ctx context.Context, q string, args ...any) error {
			_, err := pool.Exec(ctx, q, with(args)...)
			return err
		},
		row: func(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
			return pool.QueryRow(ctx, q, with(args)...)
		},
		query: func(ctx context.Context, q string, args ...any) (rows, func(), error) {
			r, err := pool.Query(ctx, q, with(args)...)
			if err != nil {
				return nil, nil, err
			}
			return r, r.Close, nil
		},
	}
}

func dollar(n int) string { return fmt.Sprintf("$%d", n) }
func question(int) string { return "?" }
func sqliteBackend(t *testing.T) *backend {
	e := newSQLite(t)
	return sqlBackend("sqlite", "BLOB", e.db, e.enc, question)
}

// mysqlBackend is database/sql over go-sql-driver/mysql. Its binary type
// is LONGBLOB; its armored columns stay TEXT, under the database's
// (case-insensitive utf8mb4) collation.
func mysqlBackend(t *testing.T) *backend {
	e := newMySQL(t)
	return sqlBackend("database/sql+mysql", "LONGBLOB", e.db, e.enc, question)
}

var pgxModes = []pgx.QueryExecMode{
	pgx.QueryExecModeCacheStatement,
	pgx.QueryExecModeCacheDescribe,
	pgx.QueryExecModeDescribeExec,
	pgx.QueryExecModeExec,
	pgx.QueryExecModeSimpleProtocol,
}

// backends returns SQLite, MySQL, database/sql over pgx, and native pgx
// in every exec mode, the Postgres ones sharing one database.
func backends(t *testing.T) []*backend {
	bs := []*backend{sqliteBackend(t), mysqlBackend(t)}
	pg := newPG(t)
	bs = append(bs, sqlBackend("database/sql+pgx", "bytea", pg.db, pg.enc, dollar))
	for _, m := range pgxModes {
		bs = append(bs, pgxBackend(m, pg.pool, pg.db, pg.enc))
	}
	return bs
}

type address struct {
	Street string `json:"street"`
	Zip    int    `json:"zip"`
}

// roundTripCase writes a value to a binary and an armored column and
// reads it back three ways.
type roundTripCase struct {
	name string
	run  func(t *testing.T, b *backend, table string, id int)
}

func rt[T any](name string, v T) roundTripCase {
	return roundTripCase{name: name, run: func(t *testing.T, b *backend, table string, id int) {
		ctx := context.Background()
		const tenant = "acme"
		bin := sqltypes.NewColumn[T](b.enc, table, "b")
		arm := sqltypes.NewColumn[T](b.enc, table, "a", sqltypes.Armor())
		_, isValue, err := fieldcore.EncodePlaintext(v)
		if err != nil {
			t.Fatalf("EncodePlaintext(%T) = %v", v, err)
		}

		if err := b.exec(ctx, b.sub(`INSERT INTO `+table+` (id, tenant_id, b, a) VALUES (?, ?, ?, ?)`),
			id, tenant, bin.Value(ctx, tenant, v), arm.Value(ctx, tenant, v)); err != nil {
			t.Fatalf("INSERT: %v", err)
		}

		rawB := rawValue(t, b.raw, `SELECT b FROM `+table+` WHERE id = `+fmt.Sprint(id))
		rawA := rawValue(t, b.raw, `SELECT a FROM `+table+` WHERE id = `+fmt.Sprint(id))
		if !isValue {
			if rawB != nil || rawA != nil {
				t.Fatalf("stored NULL value: raw b = %x, a = %q, want NULL, NULL", rawB, rawA)
			}
		} else {
			if !codec.IsValue(rawB) {
				t.Errorf("raw b = %x, want a binary colcrypt value", rawB)
			}
			if !codec.IsArmored(rawA) {
				t.Errorf("raw a = %q, want armored", rawA)
			}
		}

		var gotB, gotA T
		if err := b.row(ctx, b.sub(`SELECT b, a FROM `+table+` WHERE id = ?`), id).
			Scan(bin.Scan(ctx, tenant, &gotB), arm.Scan(ctx, tenant, &gotA)); err != nil {
			t.Fatalf("QueryRow.Scan: %v", err)
		}
		if !equal(gotB, v) || !equal(gotA, v) {
			t.Errorf("QueryRow.Scan = %#v, %#v; want %#v", gotB, gotA, v)
		}

		r, closeRows, err := b.query(ctx, b.sub(`SELECT tenant_id, b, a FROM `+table+` WHERE id = ?`), id)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		defer closeRows()
		n := 0
		for r.Next() {
			n++
			var rowTenant string
			var gotB, gotA T
			if err := r.Scan(&rowTenant, bin.ScanTenant(ctx, &rowTenant, &gotB), arm.Scan(ctx, tenant, &gotA)); err != nil {
				t.Fatalf("Rows.Scan: %v", err)
			}
			if !equal(gotB, v) || !equal(gotA, v) {
				t.Errorf("Rows.Scan = %#v, %#v; want %#v", gotB, gotA, v)
			}
		}
		if err := r.Err(); err != nil || n != 1 {
			t.Fatalf("Query rows = %d, err %v; want 1 row", n, err)
		}

		// The armored column's value also reads through a binary Column
		// (and the binary through an armored one): Scan takes both forms.
		var crossB, crossA T
		crossBin := sqltypes.NewColumn[T](b.enc, table, "a")
		crossArm := sqltypes.NewColumn[T](b.enc, table, "b", sqltypes.Armor())
		if err := b.row(ctx, b.sub(`SELECT a, b FROM `+table+` WHERE id = ?`), id).
			Scan(crossBin.Scan(ctx, tenant, &crossA), crossArm.Scan(ctx, tenant, &crossB)); err != nil {
			t.Fatalf("QueryRow.Scan (other form): %v", err)
		}
		if !equal(crossB, v) || !equal(crossA, v) {
			t.Errorf("QueryRow.Scan (other form) = %#v, %#v; want %#v", crossB, crossA, v)
		}
	}}
}

func ptr[T any](v T) *T { return &v }

func roundTripCases() []roundTripCase {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	return []roundTripCase{
		rt("string", "123-45-6789"),
		rt("string/empty", ""),
		rt("string/unicode", "Zoë Ångström 🎉 \x00 nul"),
		rt("string/long", strings.Repeat("0123456789abcdef", 1024)),
		rt("string/looks-armored", codec.ArmorPrefix+"not really"),
		rt("bytes", []byte{0x00, 0x01, codec.Magic, 0xff}),
		rt("bytes/empty", []byte{}),
		rt("bytes/nil", []byte(nil)),
		rt("int64", int64(-42)),
		rt("int64/max", int64(math.MaxInt64)),
		rt("int64/min", int64(math.MinInt64)),
		rt("int", 7),
		rt("int8", int8(-128)),
		rt("int16", int16(32767)),
		rt("int32", int32(-1)),
		rt("uint8", uint8(255)),
		rt("uint64/max", uint64(math.MaxUint64)),
		rt("float64", math.Pi),
		rt("float64/inf", math.Inf(-1)),
		rt("float64/tiny", math.SmallestNonzeroFloat64),
		rt("float32", float32(1.5)),
		rt("bool/true", true),
		rt("bool/false", false),
		rt("time", time.Date(2024, 2, 29, 23, 59, 59, 123456789, zone)),
		rt("time/zero", time.Time{}),
		rt("json/struct", address{Street: "1 Main St", Zip: 12345}),
		rt("json/map", map[string]string{"a": "b"}),
		rt("json/slice", []string{"x", "y"}),
		rt("json/slice-nil", []string(nil)),
		rt("ptr/string", ptr("ann@example.com")),
		rt("ptr/string-empty", ptr("")),
		rt("ptr/string-nil", (*string)(nil)),
		rt("ptr/int64", ptr(int64(42))),
		rt("ptr/int64-nil", (*int64)(nil)),
		rt("ptr/time-nil", (*time.Time)(nil)),
		rt("ptr/bytes-nil", (*[]byte)(nil)),
		rt("ptr/struct", &address{Street: "2 Side St"}),
		rt("ptr/struct-nil", (*address)(nil)),
	}
}

func TestRoundTrip(t *testing.T) {
	cases := roundTripCases()
	for bi, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			table := fmt.Sprintf("rt_%d", bi)
			if err := b.exec(context.Background(), fmt.Sprintf(
				`CREATE TABLE %s (id integer PRIMARY KEY, tenant_id text NOT NULL, b %s, a text)`, table, b.blob)); err != nil {
				t.Fatalf("CREATE TABLE: %v", err)
			}
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, b, table, i+1) })
			}
		})
	}
}
