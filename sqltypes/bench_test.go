package sqltypes_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/colcrypt/colcrypt/sqltypes"
)

const benchCopyRows = 100_000

// BenchmarkCopyFrom copies benchCopyRows rows per op, each with two ~40
// byte strings, into Postgres with pgx's CopyFrom: as plaintext text
// columns, and encrypted into bytea columns in three ways. The target is
// encrypted at most 1.3x the plaintext time; compare the ns/op of the
// sub-benchmarks of one run:
//
//	go test -run='^$' -bench=CopyFrom -benchtime=3x -count=3 ./sqltypes/
func BenchmarkCopyFrom(b *testing.B) {
	pg := newPG(b)
	ctx := context.Background()
	const tenant = "acme"
	for _, ddl := range []string{
		`CREATE TABLE plain (id bigint, tenant_id text, name text, email text)`,
		`CREATE TABLE enc (id bigint, tenant_id text, name bytea, email bytea)`,
	} {
		mustPoolExec(b, pg.pool, ddl)
	}
	names := make([]string, benchCopyRows)
	emails := make([]string, benchCopyRows)
	for i := range names {
		names[i] = fmt.Sprintf("Given-name Family-name number %010d", i)
		emails[i] = fmt.Sprintf("given.family.%010d@example.com.test", i)
	}
	name := sqltypes.NewColumn[string](pg.enc, "enc", "name")
	email := sqltypes.NewColumn[string](pg.enc, "enc", "email")
	if _, err := name.Seal(ctx, tenant, "warm the key cache"); err != nil {
		b.Fatal(err)
	}
	cols := []string{"id", "tenant_id", "name", "email"}

	conn, err := pg.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}

	run := func(b *testing.B, table string, src func() pgx.CopyFromSource) {
		b.ReportAllocs()
		b.SetBytes(int64(len(names[0])+len(emails[0])) * benchCopyRows)
		var clientCPU, serverCPU time.Duration
		for b.Loop() {
			b.StopTimer()
			if _, err := conn.Exec(ctx, `TRUNCATE `+table); err != nil {
				b.Fatal(err)
			}
			c0, s0 := processCPU(0), processCPU(backend)
			b.StartTimer()
			n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src())
			b.StopTimer()
			clientCPU += processCPU(0) - c0
			serverCPU += processCPU(backend) - s0
			b.StartTimer()
			if err != nil || n != benchCopyRows {
				b.Fatalf("CopyFrom = %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchCopyRows, "ns/row")
		// CPU time, unlike wall time, does not depend on what else the
		// machine runs: the work the copy costs, in this process and in
		// the Postgres backend that receives it.
		b.ReportMetric(float64(clientCPU.Milliseconds())/float64(b.N), "client-cpu-ms/op")
		if serverCPU >= 0 {
			b.ReportMetric(float64(serverCPU.Milliseconds())/float64(b.N), "pg-cpu-ms/op")
		}
	}

	b.Run("plaintext", func(b *testing.B) {
		run(b, "plain", func() pgx.CopyFromSource {
			return pgx.CopyFromSlice(benchCopyRows, func(i int) ([]any, error) {
				return []any{int64(i), tenant, names[i], emails[i]}, nil
			})
		})
	})
	b.Run("encrypted/Value", func(b *testing.B) {
		run(b, "enc", func() pgx.CopyFromSource {
			return pgx.CopyFromSlice(benchCopyRows, func(i int) ([]any, error) {
				return []any{int64(i), tenant, name.Value(ctx, tenant, names[i]), email.Value(ctx, tenant, emails[i])}, nil
			})
		})
	})
	b.Run("encrypted/Seal", func(b *testing.B) {
		run(b, "enc", func() pgx.CopyFromSource {
			return pgx.CopyFromSlice(benchCopyRows, func(i int) ([]any, error) {
				n, err := name.Seal(ctx, tenant, names[i])
				if err != nil {
					return nil, err
				}
				e, err := email.Seal(ctx, tenant, emails[i])
				if err != nil {
					return nil, err
				}
				return []any{int64(i), tenant, n, e}, nil
			})
		})
	})
	b.Run("encrypted/SealBatch", func(b *testing.B) {
		run(b, "enc", func() pgx.CopyFromSource {
			nb, err := name.SealBatch(ctx, tenant, names)
			if err != nil {
				b.Fatal(err)
			}
			eb, err := email.SealBatch(ctx, tenant, emails)
			if err != nil {
				b.Fatal(err)
			}
			return pgx.CopyFromSlice(benchCopyRows, func(i int) ([]any, error) {
				return []any{int64(i), tenant, nb[i], eb[i]}, nil
			})
		})
	})
	b.Run("encrypted/ParallelSeal", func(b *testing.B) {
		run(b, "enc", func() pgx.CopyFromSource {
			return sqltypes.ParallelSeal(pgx.CopyFromSlice(benchCopyRows, func(i int) ([]any, error) {
				return []any{int64(i), tenant, name.Value(ctx, tenant, names[i]), email.Value(ctx, tenant, emails[i])}, nil
			}), 0)
		})
	})
}

// BenchmarkSeal is the per-value cost CopyFrom adds: one Seal of a ~40
// byte string with a warm key cache.
func BenchmarkSeal(b *testing.B) {
	e := newSQLite(b)
	ctx := context.Background()
	col := sqltypes.NewColumn[string](e.enc, "p", "name")
	v := "Given-name Family-name number 0000000042"
	if _, err := col.Seal(ctx, "acme", v); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := col.Seal(ctx, "acme", v); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU returns the user+system CPU time of this process (pid 0) or
// of a local process, -1 if it cannot be read (Postgres on another host,
// no /proc).
func processCPU(pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return -1
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields, in clock ticks (100 per second on Linux).
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
