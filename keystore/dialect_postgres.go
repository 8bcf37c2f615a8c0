package keystore

import (
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Postgres is the dialect of PostgreSQL (pgx, lib/pq): timestamptz times,
// bytea keys, a partial unique index for the one active version, and
// SELECT … FOR UPDATE to serialize a tenant's rotations.
var Postgres Dialect = postgres{}

type postgres struct{}

func (postgres) Name() string { return "postgres" }

func (postgres) ddl(table string) []string {
	q := quoteDouble(table)
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + q + ` (
	tenant_id   text        NOT NULL,
	version     bigint      NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
	state       text        NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
	kek_uri     text        NOT NULL,
	wrapped_dek bytea,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, version),
	CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + quoteDouble(table+activeIndexSuffix) + ` ON ` + q + ` (tenant_id) WHERE state = 'active'`,
	}
}

// ddlLock takes a transaction-scoped advisory lock named after the table:
// two CREATE TABLE IF NOT EXISTS racing in Postgres can otherwise fail
// with a duplicate key in the system catalogs.
func (postgres) ddlLock(table string) string {
	h := fnv.New64a()
	h.Write([]byte("colcrypt/keystore/ddl/" + table))
	return `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(int64(h.Sum64()), 10) + `)`
}

func (postgres) rebind(q string) string         { return rebindDollar(q) }
func (postgres) quote(ident string) string      { return quoteDouble(ident) }
func (postgres) insertIgnore() (string, string) { return "INSERT INTO", " ON CONFLICT DO NOTHING" }

// lockTenant locks every existing row of the tenant. In READ COMMITTED a
// second rotation blocks here until the first commits, and its next
// statement then sees the first one's rows.
func (postgres) lockTenant(table string) string {
	return `SELECT version FROM ` + quoteDouble(table) + ` WHERE tenant_id = $1 FOR UPDATE`
}

func (postgres) isUniqueViolation(err error) bool {
	var s interface{ SQLState() string }
	return errors.As(err, &s) && s.SQLState() == "23505"
}

func (postgres) isSerializationFailure(err error) bool {
	var s interface{ SQLState() string }
	return errors.As(err, &s) && (s.SQLState() == "40001" || s.SQLState() == "40P01")
}

func (postgres) timeArg(t time.Time) any { return t.UTC() }

func (postgres) matchDriver(pkg string) bool {
	return strings.HasPrefix(pkg, "github.com/jackc/pgx") || pkg == "github.com/lib/pq"
}

// quoteDouble quotes an identifier the SQL-standard way. Identifiers
// reaching here passed validTable, so they hold no quote to escape.
func quoteDouble(ident string) string { return `"` + ident + `"` }
