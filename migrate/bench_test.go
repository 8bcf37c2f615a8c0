package migrate

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// benchRows is N, the table size of BenchmarkEncryptMigration: the
// -migrate.rows flag, else COLCRYPT_BENCH_ROWS, else 100,000. The issue's
// figure is 1,000,000.
var benchRows = flag.Int("migrate.rows", 0, "rows in the migration benchmark's table (default $COLCRYPT_BENCH_ROWS or 100000)")

func benchN() int {
	if *benchRows > 0 {
		return *benchRows
	}
	if n, err := strconv.Atoi(os.Getenv("COLCRYPT_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkEncryptMigration encrypts a column of N ~30-byte emails into a
// new bytea column, against the in-database baselines on the same table
// in the same run: a plain UPDATE copying the bytes (the floor: no
// cryptography, no round trips) and pgcrypto's pgp_sym_encrypt when the
// extension is available (its rate measured on at most 100,000 rows).
// Each variant starts from a freshly loaded, vacuumed table. Reported:
// rows/s.
//
//	COLCRYPT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./migrate -run '^$' -bench EncryptMigration -benchtime 1x -migrate.rows 1000000
func BenchmarkEncryptMigration(b *testing.B) {
	n := benchN()
	e := newEnv(b, Postgres)
	ctx := context.Background()
	// 'user' + 8 digits + '@example-mail.com' = 29 bytes.
	e.exec(`CREATE TABLE bench_src AS SELECT x::bigint AS id, 't' || (x % 50) AS tenant,
		'user' || lpad(x::text, 8, '0') || '@example-mail.com' AS email FROM generate_series(1, $1) AS g(x)`, n)
	fresh := func(b *testing.B) {
		b.Helper()
		for _, q := range []string{
			`DROP TABLE IF EXISTS bench`,
			`CREATE TABLE bench (id bigint PRIMARY KEY, tenant text NOT NULL, email text, email_enc bytea)`,
			`INSERT INTO bench (id, tenant, email) SELECT id, tenant, email FROM bench_src`,
			`VACUUM ANALYZE bench`,
			`DROP TABLE IF EXISTS colcrypt_migrations`,
		} {
			if _, err := e.db.ExecContext(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
	}
	// Warm the key cache for every tenant so the first run does not pay
	// for 50 key creations.
	for i := range 50 {
		if _, err := e.store.Active(ctx, "t"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	measure := func(name string, n int, run func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				fresh(b)
				b.StartTimer()
				start := time.Now()
				run(b)
				total += time.Since(start)
			}
			rate := float64(n) * float64(b.N) / total.Seconds()
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(0, "ns/op")
			b.Logf("%s: %d rows, %.0f rows/s", name, n, rate)
		})
	}
	sqlUpdate := func(q string) func(b *testing.B) {
		return func(b *testing.B) {
			if _, err := e.db.ExecContext(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
	}
	measure("sql-convert_to", n, sqlUpdate(`UPDATE bench SET email_enc = convert_to(email, 'UTF8')`))
	for _, w := range []int{1, 2} {
		measure("colcrypt/workers="+strconv.Itoa(w), n, func(b *testing.B) {
			res, err := e.m.Run(ctx, Job{Kind: Encrypt, Table: "bench", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"},
				RunOptions{BatchSize: 1000, Workers: w})
			if err != nil || res.Updated != int64(n) {
				b.Fatalf("Run = %+v, %v", res, err)
			}
		})
	}
	if _, err := e.db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pgcrypto`); err != nil {
		b.Logf("pgcrypto not available, skipping its baseline: %v", err)
		return
	}
	// pgp_sym_encrypt runs its passphrase KDF for every value: a few
	// thousand rows a second. Its rate is measured on at most 100,000
	// rows so a run with N = 1,000,000 does not take many minutes.
	pn := min(n, 100_000)
	measure("pgcrypto-pgp_sym_encrypt", pn, sqlUpdate(`UPDATE bench SET email_enc = pgp_sym_encrypt(email, 'benchmark passphrase') WHERE id <= `+strconv.Itoa(pn)))
}

var (
	benchRounds = flag.Int("migrate.rounds", 5, "rounds of BenchmarkMigrationRatio")
	benchBatch  = flag.Int("migrate.batch", 1000, "batch size of BenchmarkMigrationRatio")
)

// BenchmarkMigrationRatio measures the encrypt migration as a ratio to the
// in-database copy (UPDATE … convert_to) on the same table in the same
// round, the variants' order rotated each round, and reports each
// variant's median ratio: on a shared, noisy machine a ratio taken
// seconds apart is stable where absolute rates are not. A two-column job
// is compared with the copy of both columns. Each variant starts from a
// freshly loaded, vacuumed table.
//
//	go test ./migrate -run '^$' -bench MigrationRatio -benchtime 1x -migrate.rows 200000 -migrate.rounds 5
func BenchmarkMigrationRatio(b *testing.B) {
	n := benchN()
	e := newEnv(b, Postgres)
	ctx := context.Background()
	e.exec(`CREATE TABLE bench_src AS SELECT x::bigint AS id, 't' || (x % 50) AS tenant,
		'user' || lpad(x::text, 8, '0') || '@example-mail.com' AS email,
		'note ' || lpad(x::text, 8, '0') || ' of the row' AS note FROM generate_series(1, $1) AS g(x)`, n)
	for i := range 50 {
		if _, err := e.store.Active(ctx, "t"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	fresh := func() {
		for _, q := range []string{
			`DROP TABLE IF EXISTS bench`,
			`CREATE TABLE bench (id bigint PRIMARY KEY, tenant text NOT NULL, email text, email_enc bytea, note text, note_enc bytea)`,
			`INSERT INTO bench (id, tenant, email, note) SELECT id, tenant, email, note FROM bench_src`,
			`VACUUM ANALYZE bench`,
			`DROP TABLE IF EXISTS colcrypt_migrations`,
		} {
			if _, err := e.db.ExecContext(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
	}
	colcrypt := func(w int, also []ColumnPair, values int64) func() {
		return func() {
			res, err := e.m.Run(ctx, Job{Kind: Encrypt, Table: "bench", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", Also: also},
				RunOptions{BatchSize: *benchBatch, Workers: w})
			if err != nil || res.Updated != values {
				b.Fatalf("Run = %+v, %v", res, err)
			}
		}
	}
	update := func(q string) func() {
		return func() {
			if _, err := e.db.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	two := []ColumnPair{{Column: "note", ToColumn: "note_enc"}}
	type variant struct {
		name string
		run  func()
		base int // index of the variant it is compared with
	}
	vs := []variant{
		{"in-database convert_to, 1 column", update(`UPDATE bench SET email_enc = convert_to(email, 'UTF8')`), 0},
		{"in-database convert_to, 2 columns", update(`UPDATE bench SET email_enc = convert_to(email, 'UTF8'), note_enc = convert_to(note, 'UTF8')`), 1},
		{"colcrypt, 1 column, 1 worker", colcrypt(1, nil, int64(n)), 0},
		{"colcrypt, 1 column, 2 workers", colcrypt(2, nil, int64(n)), 0},
		{"colcrypt, 2 columns, 2 workers", colcrypt(2, two, 2*int64(n)), 1},
	}
	ratios := make([][]float64, len(vs))
	for round := range *benchRounds {
		secs := make([]float64, len(vs))
		for k := range vs {
			i := (k + round) % len(vs)
			fresh()
			start := time.Now()
			vs[i].run()
			secs[i] = time.Since(start).Seconds()
		}
		line := fmt.Sprintf("round %d: copy %.0f rows/s;", round+1, float64(n)/secs[0])
		for i, v := range vs {
			if i > 1 {
				ratios[i] = append(ratios[i], secs[v.base]/secs[i])
				line += fmt.Sprintf(" %.2f", secs[v.base]/secs[i])
			}
		}
		b.Log(line)
	}
	for i, v := range vs {
		if i < 2 {
			continue
		}
		r := slices.Clone(ratios[i])
		slices.Sort(r)
		b.Logf("%s: median %.2fx of the %s (rounds %.2f)", v.name, r[len(r)/2], vs[v.base].name, ratios[i])
	}
}
