package main

import (
	"context"
	"fmt"

	"github.com/colcrypt/colcrypt/migrate"
)

// migrateVariants measures encrypting an existing plaintext column of
// --migrate-rows rows into a new bytea column, while nothing else runs:
// colcrypt's online migration (keyset batches of 1000, compare-and-set
// writes, checkpointed) against two in-database references that make no
// round trips: a plain copy of the bytes (UPDATE … convert_to, the floor
// for rewriting a column) and pgcrypto's pgp_sym_encrypt (one passphrase
// for every row, no key per tenant). Every variant starts from a freshly
// loaded, vacuumed table, reloaded untimed before each run.
func migrateVariants(ctx context.Context, e *dbEnv, cfg *config) ([]*dbVariant, error) {
	n := cfg.migrateRows
	if _, err := e.sqlDB.ExecContext(ctx, fmt.Sprintf(
		`CREATE TABLE bench_mig_src AS SELECT x::bigint AS id,
			'tenant-' || lpad((x %% %d)::text, 3, '0') AS tenant,
			'user' || lpad(x::text, 8, '0') || '@example-mail.com' AS email
		FROM generate_series(1, $1) AS g(x)`, len(e.tenants)), n); err != nil {
		return nil, err
	}
	fresh := func(ctx context.Context) error {
		return e.exec(ctx,
			`DROP TABLE IF EXISTS bench_mig`,
			`CREATE TABLE bench_mig (id bigint PRIMARY KEY, tenant text NOT NULL, email text, email_enc bytea)`,
			`INSERT INTO bench_mig (id, tenant, email) SELECT id, tenant, email FROM bench_mig_src`,
			`VACUUM ANALYZE bench_mig`,
			`DROP TABLE IF EXISTS colcrypt_migrations`,
		)
	}
	update := func(q string) func(context.Context, int, int64) (int, error) {
		return func(ctx context.Context, _ int, _ int64) (int, error) {
			r, err := e.sqlDB.ExecContext(ctx, q)
			if err != nil {
				return 0, err
			}
			got, err := r.RowsAffected()
			if err == nil && got != int64(n) {
				err = fmt.Errorf("updated %d rows, want %d", got, n)
			}
			return int(got), err
		}
	}
	m, err := migrate.New(e.sqlDB, e.enc, migrate.WithDialect("postgres"))
	if err != nil {
		return nil, err
	}
	colcrypt := func(workers int) func(context.Context, int, int64) (int, error) {
		return func(ctx context.Context, _ int, _ int64) (int, error) {
			res, err := m.Run(ctx, migrate.Job{Kind: migrate.Encrypt, Table: "bench_mig", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant"},
				migrate.RunOptions{BatchSize: 1000, Workers: workers})
			if err != nil {
				return 0, err
			}
			if res.Updated != int64(n) || res.Failed != 0 {
				return 0, fmt.Errorf("migrate.Run updated %d rows and failed %d, want %d and 0", res.Updated, res.Failed, n)
			}
			return int(res.Updated), nil
		}
	}
	note := fmt.Sprintf("%d rows, email → new bytea column", n)
	vs := []*dbVariant{
		{scenario: "migrate column", variant: "in-database copy: convert_to (reference)", plaintext: true, note: note,
			once: true, prepare: fresh, op: update(`UPDATE bench_mig SET email_enc = convert_to(email, 'UTF8')`)},
		{scenario: "migrate column", variant: "pgcrypto pgp_sym_encrypt (reference)", note: note + ", one passphrase",
			once: true, prepare: fresh, op: update(`UPDATE bench_mig SET email_enc = pgp_sym_encrypt(email, 'benchmark passphrase')`)},
		{scenario: "migrate column", variant: "colcrypt migrate, 1 worker", note: note,
			once: true, prepare: fresh, op: colcrypt(1)},
		{scenario: "migrate column", variant: "colcrypt migrate, 2 workers", note: note,
			once: true, prepare: fresh, op: colcrypt(2)},
	}
	if err := e.exec(ctx, `CREATE EXTENSION IF NOT EXISTS pgcrypto`); err != nil {
		vs[1].unavailable = fmt.Sprintf("pgcrypto not available: %v", err)
	}
	return vs, nil
}
