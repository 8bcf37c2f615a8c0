package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/colcrypt/colcrypt/sqltypes"
)

// copyVariants measures a bulk load with pgx's CopyFrom: plaintext text
// columns against two columns sealed by sqltypes values, which
// sqltypes.ParallelSeal seals on every core while pgx streams the rows
// before them. One COPY at a time, as a bulk load runs.
func copyVariants(ctx context.Context, e *dbEnv, cfg *config) ([]*dbVariant, error) {
	if err := e.exec(ctx,
		`CREATE TABLE bench_copy_plain (tenant_id text NOT NULL, name text, email text)`,
		`CREATE TABLE bench_copy_sealed (tenant_id text NOT NULL, name bytea, email bytea)`,
	); err != nil {
		return nil, err
	}
	n := cfg.copyRows
	names := make([]string, n)
	emails := make([]string, n)
	for i := range n {
		names[i], emails[i] = fieldValues(int64(i))
	}
	tenantOf := func(i int) string { return e.tenants[i%len(e.tenants)] }
	nameCol := sqltypes.NewColumn[string](e.enc, "bench_copy_sealed", "name")
	emailCol := sqltypes.NewColumn[string](e.enc, "bench_copy_sealed", "email")
	cols := []string{"tenant_id", "name", "email"}
	truncate := func(table string) func(context.Context) error {
		return func(ctx context.Context) error { return e.exec(ctx, "TRUNCATE "+table) }
	}
	note := fmt.Sprintf("CopyFrom of %d rows, tenants interleaved", n)
	copied := func(got int64, err error) (int, error) {
		if err == nil && got != int64(n) {
			err = fmt.Errorf("copied %d rows, want %d", got, n)
		}
		return int(got), err
	}
	return []*dbVariant{
		{
			scenario: "pgx CopyFrom", variant: "plaintext (text columns)", plaintext: true, note: note,
			workers: 1, prepare: truncate("bench_copy_plain"),
			op: func(ctx context.Context, _ int, _ int64) (int, error) {
				src := pgx.CopyFromSlice(n, func(i int) ([]any, error) {
					return []any{tenantOf(i), names[i], emails[i]}, nil
				})
				return copied(e.pool.CopyFrom(ctx, pgx.Identifier{"bench_copy_plain"}, cols, src))
			},
		},
		{
			scenario: "pgx CopyFrom", variant: "colcrypt sqltypes + ParallelSeal", note: note,
			workers: 1, prepare: truncate("bench_copy_sealed"),
			op: func(ctx context.Context, _ int, _ int64) (int, error) {
				src := sqltypes.ParallelSeal(pgx.CopyFromSlice(n, func(i int) ([]any, error) {
					t := tenantOf(i)
					return []any{t, nameCol.Value(ctx, t, names[i]), emailCol.Value(ctx, t, emails[i])}, nil
				}), 0)
				got, err := e.pool.CopyFrom(ctx, pgx.Identifier{"bench_copy_sealed"}, cols, src)
				if err != nil && src.Err() != nil {
					err = src.Err()
				}
				return copied(got, err)
			},
		},
	}, nil
}
