package sqltypes_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/handscoped"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// The hand-written baseline: what a team writes without colcrypt to
// encrypt a column with database/sql. One static AES-256-GCM key for
// every tenant and column, a random nonce per value in front of the
// ciphertext, no associated data, no header, no key store: a Valuer that
// seals and a Scanner that opens, as a few dozen lines in an
// application. The nonce is drawn inside the AEAD
// (cipher.NewGCMWithRandomNonce), as colcrypt's is, so the two pay the
// same for AES-GCM and the ratio shows what colcrypt adds.
type handGCM struct{ aead cipher.AEAD }

func newHandGCM(t testing.TB) *handGCM {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Fatal(err)
	}
	return &handGCM{aead: aead}
}

// handValue is the baseline's Valuer for a string.
type handValue struct {
	h *handGCM
	s string
}

func (v handValue) Value() (driver.Value, error) {
	return v.h.aead.Seal(nil, nil, []byte(v.s), nil), nil
}

// handString is the baseline's Scanner for a string.
type handString struct {
	h   *handGCM
	dst *string
}

func (s *handString) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return errors.New("handString: not bytea")
	}
	pt, err := s.h.aead.Open(nil, nil, b, nil)
	if err != nil {
		return err
	}
	*s.dst = string(pt)
	return nil
}

// The rows every contender of BenchmarkSQLVsHandwritten stores: two
// ~40-byte strings, the same values in each.
const (
	vsRows  = 10_000
	vsBatch = 1_000 // rows per multi-row INSERT
)

func vsValue(i int, col string) string {
	s := fmt.Sprintf("%s-%06d-", col, i)
	return s + strings.Repeat("x", 40-len(s))
}

// vsContender is one side of BenchmarkSQLVsHandwritten's comparison:
// setup runs untimed before each timed op, which handles rows rows.
type vsContender struct {
	name  string
	setup func()
	op    func() error
}

// vsRounds times each contender once per iteration, in an order that
// rotates every iteration, and reports each one's median time over the
// median of the contender named base ("<name>-x-<base>"), the same for
// the client process's CPU time ("<name>-cpu-x-<base>", which the load
// of a shared machine moves far less than wall time), the best round's
// µs of base, and each contender's allocations per row (the median
// round's, counted around the op outside the timed part).
func vsRounds(b *testing.B, base string, rows int, cs ...vsContender) {
	times := make([][]time.Duration, len(cs))
	cpus := make([][]time.Duration, len(cs))
	allocs := make([][]uint64, len(cs))
	var ms runtime.MemStats
	i := 0
	for b.Loop() {
		for j := range cs {
			k := (i + j) % len(cs)
			cs[k].setup()
			runtime.ReadMemStats(&ms)
			m0 := ms.Mallocs
			c0 := processCPU(0)
			start := time.Now()
			if err := cs[k].op(); err != nil {
				b.Fatalf("%s: %v", cs[k].name, err)
			}
			times[k] = append(times[k], time.Since(start))
			cpus[k] = append(cpus[k], processCPU(0)-c0)
			runtime.ReadMemStats(&ms)
			allocs[k] = append(allocs[k], ms.Mallocs-m0)
		}
		i++
	}
	bi := slices.IndexFunc(cs, func(c vsContender) bool { return c.name == base })
	mid := len(times[0]) / 2
	for k := range cs {
		slices.Sort(times[k])
		slices.Sort(cpus[k])
		slices.Sort(allocs[k])
	}
	b.ReportMetric(float64(times[bi][0].Microseconds()), base+"-best-µs")
	for k, c := range cs {
		b.ReportMetric(float64(allocs[k][mid])/float64(rows), c.name+"-allocs/row")
		if k != bi {
			b.ReportMetric(float64(times[k][mid])/float64(times[bi][mid]), c.name+"-x-"+base)
			b.ReportMetric(float64(cpus[k][mid])/float64(cpus[bi][mid]), c.name+"-cpu-x-"+base)
		}
	}
	// colcrypt against the baseline that does its per-value work
	// (internal/handscoped): what is left beyond that floor.
	ci := slices.IndexFunc(cs, func(c vsContender) bool { return c.name == "colcrypt" })
	si := slices.IndexFunc(cs, func(c vsContender) bool { return c.name == "handscoped" })
	if ci >= 0 && si >= 0 {
		b.ReportMetric(float64(times[ci][mid])/float64(times[si][mid]), "colcrypt-x-handscoped")
		b.ReportMetric(float64(cpus[ci][mid])/float64(cpus[si][mid]), "colcrypt-cpu-x-handscoped")
	}
}

// BenchmarkSQLVsHandwritten compares, on real Postgres in one run, the
// ways to store two string columns: plaintext text columns; the floor,
// the same bytes as the ciphertext (71 bytes) in bytea columns with no
// encryption; the hand-written single-key AES-GCM Valuer and Scanner
// above; the same baseline doing colcrypt's per-value work (tenant
// check, key lookup, header, the same associated data:
// internal/handscoped), against which "colcrypt-x-handscoped" is
// reported; and colcrypt's sqltypes. For each of INSERT (10,000 rows in
// multi-row statements of 1,000, through database/sql and pgx's stdlib
// driver), SELECT (10,000 rows through database/sql) and SELECT through
// native pgx, every contender runs once per iteration, in an order that
// rotates, and the benchmark reports medians over the hand-written
// baseline ("-x-handwritten") and allocations per row. colcrypt's
// Scanners are built once and reused for every row, as a loop may.
//
//	go test -run='^$' -bench=SQLVsHandwritten -benchtime=7x -count=1 ./sqltypes/
func BenchmarkSQLVsHandwritten(b *testing.B) {
	pg := newPG(b)
	ctx := context.Background()
	const tenant = "acme"
	for _, t := range []string{"plain", "floor", "hand", "handscoped", "enc"} {
		typ := "bytea"
		if t == "plain" {
			typ = "text"
		}
		for _, suffix := range []string{"", "_ins"} {
			mustExec(b, pg.db, fmt.Sprintf(`CREATE TABLE vs_%s%s (id bigint, tenant_id text, a %s, b %s)`, t, suffix, typ, typ))
		}
	}
	as, bs := make([]string, vsRows), make([]string, vsRows)
	for i := range as {
		as[i], bs[i] = vsValue(i, "a"), vsValue(i, "b")
	}
	pad := strings.Repeat("p", 31) // the ciphertext's 71 bytes, unencrypted
	hand := newHandGCM(b)
	colA := sqltypes.NewColumn[string](pg.enc, "vs_enc", "a")
	colB := sqltypes.NewColumn[string](pg.enc, "vs_enc", "b")
	warm, err := colA.Seal(ctx, tenant, "warm the key cache")
	if err != nil {
		b.Fatal(err)
	}
	// The scoped baseline binds the same associated data as colcrypt:
	// colcrypt's header and scope (tenant, vs_enc, a or b).
	scoped := handscoped.New(warm, field.TenantFromContext)
	scopeA, scopeB := handscoped.Scope{Tenant: tenant, Table: "vs_enc", Column: "a"}, handscoped.Scope{Tenant: tenant, Table: "vs_enc", Column: "b"}

	// args returns the parameters of row i for each contender.
	args := map[string]func(i int) []any{
		"plaintext": func(i int) []any { return []any{int64(i), tenant, as[i], bs[i]} },
		"floor": func(i int) []any {
			return []any{int64(i), tenant, []byte(as[i] + pad), []byte(bs[i] + pad)}
		},
		"handwritten": func(i int) []any {
			return []any{int64(i), tenant, handValue{hand, as[i]}, handValue{hand, bs[i]}}
		},
		"handscoped": func(i int) []any {
			return []any{int64(i), tenant, handScopedValue{scoped, ctx, scopeA, as[i]}, handScopedValue{scoped, ctx, scopeB, bs[i]}}
		},
		"colcrypt": func(i int) []any {
			return []any{int64(i), tenant, colA.Value(ctx, tenant, as[i]), colB.Value(ctx, tenant, bs[i])}
		},
	}
	tables := map[string]string{"plaintext": "vs_plain", "floor": "vs_floor", "handwritten": "vs_hand", "handscoped": "vs_handscoped", "colcrypt": "vs_enc"}
	names := []string{"handwritten", "plaintext", "floor", "handscoped", "colcrypt"}

	insert := func(table string, arg func(int) []any) error {
		var q strings.Builder
		params := make([]any, 0, 4*vsBatch)
		for lo := 0; lo < vsRows; lo += vsBatch {
			q.Reset()
			params = params[:0]
			q.WriteString("INSERT INTO " + table + " (id, tenant_id, a, b) VALUES ")
			for i := lo; i < lo+vsBatch; i++ {
				n := len(params)
				if i > lo {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "($%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4)
				params = append(params, arg(i)...)
			}
			if _, err := pg.db.ExecContext(ctx, q.String(), params...); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := insert(tables[n], args[n]); err != nil {
			b.Fatalf("fill %s: %v", tables[n], err)
		}
	}

	type row struct {
		id     int64
		tenant string
		a, b   string
	}
	out := make([]row, 0, vsRows)
	// scanArgs returns the Scan destinations of r for each contender,
	// built once per query.
	scanArgs := map[string]func(r *row) []any{
		"plaintext": func(r *row) []any { return []any{&r.id, &r.tenant, &r.a, &r.b} },
		"floor":     func(r *row) []any { return []any{&r.id, &r.tenant, &r.a, &r.b} },
		"handwritten": func(r *row) []any {
			return []any{&r.id, &r.tenant, &handString{hand, &r.a}, &handString{hand, &r.b}}
		},
		"handscoped": func(r *row) []any {
			return []any{&r.id, &r.tenant, &handScopedString{scoped, ctx, scopeA, &r.a}, &handScopedString{scoped, ctx, scopeB, &r.b}}
		},
		"colcrypt": func(r *row) []any {
			return []any{&r.id, &r.tenant, colA.Scan(ctx, tenant, &r.a), colB.Scan(ctx, tenant, &r.b)}
		},
	}
	check := func() error {
		if len(out) != vsRows {
			return fmt.Errorf("%d rows, want %d", len(out), vsRows)
		}
		for _, r := range out {
			if !strings.HasPrefix(r.a, as[r.id]) || !strings.HasPrefix(r.b, bs[r.id]) {
				return fmt.Errorf("row %d read wrong", r.id)
			}
		}
		return nil
	}

	b.Run("INSERT", func(b *testing.B) {
		var cs []vsContender
		for _, n := range names {
			table := tables[n] + "_ins"
			cs = append(cs, vsContender{name: n,
				setup: func() { mustExec(b, pg.db, "TRUNCATE "+table) },
				op:    func() error { return insert(table, args[n]) }})
		}
		vsRounds(b, "handwritten", vsRows, cs...)
	})
	// selectAll is a contender per name reading the whole table through
	// query, which is database/sql's or native pgx's.
	selectAll := func(query func(q string) (scanRows, func(), error)) []vsContender {
		var cs []vsContender
		for _, n := range names {
			q := "SELECT id, tenant_id, a, b FROM " + tables[n]
			cs = append(cs, vsContender{name: n, setup: func() { out = out[:0] }, op: func() error {
				rows, closeRows, err := query(q)
				if err != nil {
					return err
				}
				defer closeRows()
				var r row
				dst := scanArgs[n](&r)
				for rows.Next() {
					if err := rows.Scan(dst...); err != nil {
						return err
					}
					out = append(out, r)
				}
				if err := rows.Err(); err != nil {
					return err
				}
				return check()
			}})
		}
		return cs
	}
	b.Run("SELECT", func(b *testing.B) {
		cs := selectAll(func(q string) (scanRows, func(), error) {
			rows, err := pg.db.QueryContext(ctx, q)
			if err != nil {
				return nil, nil, err
			}
			return rows, func() { rows.Close() }, nil
		})
		vsRounds(b, "handwritten", vsRows, cs...)
	})
	// pgx scans no bytea into a string: the floor's are built from
	// the bytes, as colcrypt's plaintext is.
	scanArgs["floor"] = func(r *row) []any {
		return []any{&r.id, &r.tenant, floorString{&r.a}, floorString{&r.b}}
	}
	b.Run("SELECT-pgx", func(b *testing.B) {
		cs := selectAll(func(q string) (scanRows, func(), error) {
			rows, err := pg.pool.Query(ctx, q)
			if err != nil {
				return nil, nil, err
			}
			return rows, rows.Close, nil
		})
		vsRounds(b, "handwritten", vsRows, cs...)
	})
}

// scanRows is what database/sql's and pgx's result sets share.
type scanRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// floorString is the floor's string destination for native pgx: the
// bytes as they arrive (pgtype.BytesScanner), copied into a string.
type floorString struct{ dst *string }

func (f floorString) ScanBytes(v []byte) error {
	*f.dst = string(v)
	return nil
}
