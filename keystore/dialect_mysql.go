package keystore

import (
	"reflect"
	"strings"
	"time"
)

// MySQL is the dialect of MySQL 5.7+ and MariaDB 10.2+ through
// github.com/go-sql-driver/mysql. Its choices, each forced by something
// the server would otherwise get silently wrong:
//
//   - tenant_id is VARBINARY(1024): compared byte for byte, like a Go
//     string. A character column would compare under a collation: a _ci
//     one makes "Acme" and "acme" one tenant, and even utf8mb4_bin pads
//     with spaces, making "acme" and "acme " one tenant. Both would hand
//     one tenant's key to another. VARBINARY also holds MaxTenantLen bytes
//     inside InnoDB's 3072-byte key limit, where VARCHAR(1024) utf8mb4
//     (4 bytes a character) does not fit.
//   - At most one active version per tenant: MySQL has no partial unique
//     index, so a stored generated column active_tenant holds tenant_id on
//     the active row and NULL on every other, under a UNIQUE index (NULLs
//     never collide). The same DDL works on MySQL and MariaDB.
//   - A tenant's first key is a plain INSERT whose duplicate-key error
//     (1062) means "another process won"; see insertIgnore.
//   - CHECK constraints mirror Postgres's; MySQL 8.0.16+ and MariaDB 10.2+
//     enforce them (MySQL 5.7 parses and ignores them; the unique index
//     above holds everywhere).
//   - ENGINE=InnoDB is named, so a server defaulting to MyISAM (no
//     transactions, no row locks) cannot quietly take the table.
//   - Times are DATETIME(6) in UTC, not TIMESTAMP (session time zone, year
//     2038). Keep the driver's default loc=UTC; parseTime is optional.
//
// Run with a strict sql_mode (the default since MySQL 5.7 and MariaDB
// 10.2.4): without it the server truncates an oversized value with a
// warning instead of refusing it. Every column here is sized for what this
// package writes, so only a hand-written row could hit that.
var MySQL Dialect = mysql{}

type mysql struct{}

func (mysql) Name() string { return "mysql" }

func (mysql) ddl(table string) []string {
	q := quoteBacktick(table)
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + q + ` (
	tenant_id     VARBINARY(1024) NOT NULL,
	version       BIGINT          NOT NULL,
	state         VARCHAR(9) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	kek_uri       TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	wrapped_dek   BLOB,
	created_at    DATETIME(6)     NOT NULL,
	updated_at    DATETIME(6)     NOT NULL,
	active_tenant VARBINARY(1024) GENERATED ALWAYS AS (CASE WHEN state = 'active' THEN tenant_id END) STORED,
	PRIMARY KEY (tenant_id, version),
	UNIQUE KEY ` + quoteBacktick(table+activeIndexSuffix) + ` (active_tenant),
	CONSTRAINT ` + quoteBacktick(table+"_version") + ` CHECK (version BETWEEN 1 AND 4294967295),
	CONSTRAINT ` + quoteBacktick(table+"_state") + ` CHECK (CAST(state AS BINARY) IN ('active', 'retired', 'destroyed')),
	CONSTRAINT ` + quoteBacktick(table+"_wrapped") + ` CHECK ((state = 'destroyed') = (wrapped_dek IS NULL))
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	}
}

// ddlLock is empty: the table and its indexes are one CREATE TABLE, which
// MySQL runs under an exclusive metadata lock; a concurrent one finds the
// table there and only warns.
func (mysql) ddlLock(string) string { return "" }

func (mysql) rebind(q string) string    { return q }
func (mysql) quote(ident string) string { return quoteBacktick(ident) }

// insertIgnore is a plain INSERT: the row that collides on the primary key
// or the one-active index fails with a duplicate-key error, which the
// caller takes as "another process won", and every other failure (CHECK,
// truncation, missing table) stays an error. INSERT IGNORE would turn
// those into warnings. INSERT … ON DUPLICATE KEY UPDATE tenant_id =
// tenant_id, a no-op update, skips only duplicates too, but it takes
// exclusive locks on the duplicate row, deadlocked about three times as
// often in a 16-process race on MariaDB 10.11, and is flagged unsafe for
// statement-based replication on a table with two unique keys.
func (mysql) insertIgnore() (string, string) { return "INSERT INTO", "" }

// lockTenant locks the tenant's rows, and under InnoDB's default
// REPEATABLE READ the gap after them, so a second rotation (or a stray
// insert of a new version) waits for the first to commit. A locking read
// opens no snapshot, so the summary read that follows it is the first
// consistent read of the transaction and sees the first rotation's rows.
func (mysql) lockTenant(table string) string {
	return `SELECT version FROM ` + quoteBacktick(table) + ` WHERE tenant_id = ? FOR UPDATE`
}

// MySQL error numbers for a duplicate key: ER_DUP_KEY,
// ER_DUP_ENTRY and ER_DUP_ENTRY_WITH_KEY_NAME.
const (
	mysqlErrDupKey          = 1022
	mysqlErrDupEntry        = 1062
	mysqlErrDupEntryKeyName = 1586
)

func (mysql) isUniqueViolation(err error) bool {
	n, ok := mysqlErrorNumber(err)
	return ok && (n == mysqlErrDupEntry || n == mysqlErrDupEntryKeyName || n == mysqlErrDupKey)
}

// mysqlErrLockDeadlock is ER_LOCK_DEADLOCK (SQLSTATE 40001). InnoDB
// reports it even for single-row autocommit INSERTs racing on a unique
// index: their duplicate checks take gap locks that can wait on each
// other. The victim's statement was rolled back whole.
const mysqlErrLockDeadlock = 1213

func (mysql) isSerializationFailure(err error) bool {
	n, ok := mysqlErrorNumber(err)
	return ok && n == mysqlErrLockDeadlock
}

func (mysql) timeArg(t time.Time) any { return t.UTC() }

func (mysql) matchDriver(pkg string) bool {
	return pkg == mysqlDriverPkg || strings.HasPrefix(pkg, mysqlDriverPkg+"/")
}

const mysqlDriverPkg = "github.com/go-sql-driver/mysql"

// mysqlErrorNumber finds a *mysql.MySQLError in err's chain and returns
// its Number. It matches the type by package and name rather than import
// the driver: keystore would otherwise link it, and register "mysql" with
// database/sql, in every program that uses colcrypt. Number is the
// driver's exported, documented field (a uint16 since v1.0).
func mysqlErrorNumber(err error) (uint16, bool) {
	for depth := 0; err != nil && depth < 32; depth++ {
		if n, ok := mysqlErrorField(err); ok {
			return n, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if n, ok := mysqlErrorNumber(e); ok {
					return n, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}

func mysqlErrorField(err error) (uint16, bool) {
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0, false
	}
	v = v.Elem()
	t := v.Type()
	if t.Kind() != reflect.Struct || t.Name() != "MySQLError" || !(t.PkgPath() == mysqlDriverPkg || strings.HasPrefix(t.PkgPath(), mysqlDriverPkg+"/")) {
		return 0, false
	}
	f := v.FieldByName("Number")
	if !f.IsValid() || f.Kind() != reflect.Uint16 {
		return 0, false
	}
	return uint16(f.Uint()), true
}

// quoteBacktick quotes an identifier the MySQL way. Identifiers reaching
// here passed validTable, so they hold no backtick to escape.
func quoteBacktick(ident string) string { return "`" + ident + "`" }
