package gormplugin_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/gormplugin"
)

// BenchmarkGORMFindClient is GORMVsPlaintext's Find without the database
// in the timed part: the rows of each table are read from Postgres once,
// as pgx's database/sql driver hands them over, and then served from
// memory by a database/sql driver that answers every SELECT of that table
// with them. What is timed is GORM's Find on the client alone (database/sql,
// GORM's scan, the serializers, the plugin's callbacks), which on a
// machine that also runs the database and other work is the part wall
// time measures worst. The contenders and the rotating order are
// GORMVsPlaintext's; the figures are ratios to the hand-written baseline.
//
//	go test -run='^$' -bench=GORMFindClient -benchtime=30x -count=5 ./gormplugin/
func BenchmarkGORMFindClient(b *testing.B) {
	e, _, _ := newBenchData(b)
	mem := &memDriver{tables: map[string]*memTable{}}
	for _, table := range []string{"bench_plains", "bench_encrypteds", "bench_armoreds", "bench_bytes", "bench_hands", "bench_hand_scopeds"} {
		mem.tables[table] = readTable(b, e.raw, table)
	}
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sql.OpenDB(mem)}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Use(gormplugin.New(e.enc)); err != nil {
		b.Fatal(err)
	}
	db = db.WithContext(ctxFor("acme"))

	var pout []BenchPlain
	var eout []BenchEncrypted
	var aout []BenchArmored
	var fout []BenchBytes
	var hout []BenchHand
	var sout []BenchHandScoped
	find := func(name string, reset func(), dst any) contender {
		return contender{name: name, setup: reset, op: func() error { return db.Find(dst).Error }}
	}
	rounds(b,
		find("plaintext", func() { pout = nil }, &pout),
		find("bytea", func() { eout = nil }, &eout),
		find("armored", func() { aout = nil }, &aout),
		find("floor", func() { fout = nil }, &fout),
		find("handwritten", func() { hout = nil }, &hout),
		find("handscoped", func() { sout = nil }, &sout))
	if len(pout) != benchRows || len(eout) != benchRows || len(aout) != benchRows || len(fout) != benchRows || len(hout) != benchRows || len(sout) != benchRows {
		b.Fatalf("Find = %d, %d, %d, %d, %d and %d rows, want %d each", len(pout), len(eout), len(aout), len(fout), len(hout), len(sout), benchRows)
	}
	for i := range eout {
		if eout[i].A != hout[i].A || eout[i].B != hout[i].B || aout[i].A != hout[i].A || sout[i].B != hout[i].B {
			b.Fatalf("row %d decrypted wrong", eout[i].ID)
		}
	}
}

// memTable is a table's rows as the pgx driver gave them.
type memTable struct {
	columns []string
	rows    [][]driver.Value
}

// readTable reads every row of table, in id order, as driver values.
func readTable(b *testing.B, db *sql.DB, table string) *memTable {
	b.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY id")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		b.Fatal(err)
	}
	t := &memTable{columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		row := make([]driver.Value, len(cols))
		for i, v := range vals {
			row[i] = v
		}
		t.rows = append(t.rows, row)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return t
}

// memDriver is a database/sql connector whose connections answer a
// SELECT with the rows of the first of its tables the query names, and
// refuse anything else.
type memDriver struct{ tables map[string]*memTable }

func (d *memDriver) Connect(context.Context) (driver.Conn, error) { return memConn{d}, nil }
func (d *memDriver) Driver() driver.Driver                        { return d }
func (d *memDriver) Open(string) (driver.Conn, error)             { return memConn{d}, nil }

type memConn struct{ d *memDriver }

func (memConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("memConn: no Prepare") }
func (memConn) Close() error                        { return nil }
func (memConn) Begin() (driver.Tx, error)           { return nil, errors.New("memConn: no transactions") }

func (c memConn) QueryContext(_ context.Context, query string, _ []driver.NamedValue) (driver.Rows, error) {
	for name, t := range c.d.tables {
		if strings.Contains(query, `"`+name+`"`) {
			return &memRows{t: t}, nil
		}
	}
	return nil, errors.New("memConn: no table in " + query)
}

type memRows struct {
	t *memTable
	i int
}

func (r *memRows) Columns() []string { return r.t.columns }
func (r *memRows) Close() error      { return nil }

// Next hands out a fresh copy of each []byte, as pgx's driver does: the
// scanners may keep what they are given.
func (r *memRows) Next(dest []driver.Value) error {
	if r.i == len(r.t.rows) {
		return io.EOF
	}
	for i, v := range r.t.rows[r.i] {
		if b, ok := v.([]byte); ok {
			v = append([]byte(nil), b...)
		}
		dest[i] = v
	}
	r.i++
	return nil
}
