package migrate

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEncryptNamedIndexes measures what filling named indexes adds
// to an encrypt migration on Postgres: the same job with and without two
// indexes (one over the migrated column, one over it and a plain
// column), in rounds whose order alternates, each from a freshly loaded
// table. Reported: each variant's rows/s and the median ratio of the
// job with indexes to the job without, which a shared, noisy machine
// leaves more stable than either rate.
//
//	go test ./migrate -run '^$' -bench EncryptNamedIndexes -benchtime 1x -migrate.rows 50000 -migrate.rounds 5
func BenchmarkEncryptNamedIndexes(b *testing.B) {
	n := benchN()
	e := newEnv(b, dialectPostgres)
	ctx := context.Background()
	e.exec(`CREATE TABLE bench_ix_src AS SELECT x::bigint AS id, 't' || (x % 50) AS tenant,
		lpad((x % 1000)::text, 3, '0') || '-' || lpad((x % 100)::text, 2, '0') || '-' || lpad(x::text, 4, '0') AS ssn,
		' 9' || lpad((x % 10000)::text, 4, '0') || ' ' AS zip FROM generate_series(1, $1) AS g(x)`, n)
	fresh := func() {
		for _, q := range []string{
			`DROP TABLE IF EXISTS bench_ix`,
			`CREATE TABLE bench_ix (id bigint PRIMARY KEY, tenant text NOT NULL, ssn text, zip text, ssn_enc bytea, ssn_zip bytea, ssn4 bytea)`,
			`INSERT INTO bench_ix (id, tenant, ssn, zip) SELECT id, tenant, ssn, zip FROM bench_ix_src`,
			`VACUUM ANALYZE bench_ix`,
			`DROP TABLE IF EXISTS colcrypt_migrations`,
		} {
			e.exec(q)
		}
	}
	for i := range 50 {
		if _, err := e.store.Active(ctx, "t"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	plain := Job{Kind: Encrypt, Table: "bench_ix", Column: "ssn", ToColumn: "ssn_enc", TenantColumn: "tenant"}
	indexed := plain
	indexed.Indexes = []JobIndex{
		jobIndex(b, "ssn_zip", "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32"),
		jobIndex(b, "ssn4", "index:ssn_last4,parts:ssn/digits/last4,bits:24"),
	}
	run := func(job Job) time.Duration {
		fresh()
		start := time.Now()
		res, err := e.m.Run(ctx, job, RunOptions{BatchSize: 1000})
		if err != nil || res.Updated != int64(n) {
			b.Fatalf("Run = %+v, %v", res, err)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	var ratios []float64
	var tPlain, tIndexed time.Duration
	for r := range *benchRounds {
		var p, x time.Duration
		if r%2 == 0 {
			p, x = run(plain), run(indexed)
		} else {
			x, p = run(indexed), run(plain)
		}
		tPlain += p
		tIndexed += x
		ratios = append(ratios, x.Seconds()/p.Seconds())
		b.Logf("round %d: without %.0f rows/s, with %.0f rows/s, ratio %.2f", r+1, float64(n)/p.Seconds(), float64(n)/x.Seconds(), ratios[r])
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(n)*float64(*benchRounds)/tPlain.Seconds(), "rows/s-without")
	b.ReportMetric(float64(n)*float64(*benchRounds)/tIndexed.Seconds(), "rows/s-with")
	b.ReportMetric(ratios[len(ratios)/2], "time-ratio")
	b.ReportMetric(0, "ns/op")
}
