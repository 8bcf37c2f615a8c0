package sqldialect

import (
	"errors"
	"reflect"
	"strings"
)

// IsUniqueViolation reports whether err is a primary key or unique index
// violation: SQLSTATE 23505 on Postgres; ER_DUP_KEY, ER_DUP_ENTRY or
// ER_DUP_ENTRY_WITH_KEY_NAME on MySQL; SQLITE_CONSTRAINT_PRIMARYKEY or
// _UNIQUE on SQLite (by the driver's extended code, else SQLite's own
// message text).
func (d Dialect) IsUniqueViolation(err error) bool { return d.classify(err)&uniqueViolation != 0 }

// IsSerializationFailure reports whether the server rolled back the
// statement or transaction of err to break a deadlock or a serialization
// conflict (SQLSTATE 40001, 40P01; MySQL's ER_LOCK_DEADLOCK): another
// writer won the race, and running it again may succeed. Always false on
// SQLite, which has one writer at a time; a writer that must wait does so
// under the busy timeout.
func (d Dialect) IsSerializationFailure(err error) bool {
	return d.classify(err)&serializationFailure != 0
}

// IsRetryable reports whether a transaction that failed with err rolled
// back whole for a reason that running it again can cure: a
// serialization failure or deadlock, or a lock it could not get in time
// (Postgres 55P03 lock_not_available, MySQL's lock wait timeout, SQLite's
// SQLITE_BUSY and SQLITE_LOCKED after the busy timeout).
func (d Dialect) IsRetryable(err error) bool {
	return d.classify(err)&(serializationFailure|lockTimeout) != 0
}

// errorClass is what a database error means to colcrypt, as bits.
type errorClass uint8

const (
	uniqueViolation errorClass = 1 << iota
	serializationFailure
	lockTimeout
)

// classify reads err's class from the driver's error in its chain.
func (d Dialect) classify(err error) errorClass {
	if err == nil {
		return 0
	}
	switch d {
	case Postgres:
		switch sqlState(err) {
		case "23505":
			return uniqueViolation
		case "40001", "40P01":
			return serializationFailure
		case "55P03":
			return lockTimeout
		}
	case MySQL:
		n, _ := mysqlErrorNumber(err)
		switch n {
		case mysqlErrDupKey, mysqlErrDupEntry, mysqlErrDupEntryKeyName:
			return uniqueViolation
		case mysqlErrLockDeadlock:
			return serializationFailure
		case mysqlErrLockWaitTimeout:
			return lockTimeout
		}
	case SQLite:
		if c, ok := sqliteCode(err); ok {
			switch {
			case c == 1555 || c == 2067:
				return uniqueViolation
			case c&0xff == 5 || c&0xff == 6:
				return lockTimeout
			}
		}
		if msg := err.Error(); strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "PRIMARY KEY constraint failed") {
			return uniqueViolation
		}
	}
	return 0
}

// sqlState is the SQLSTATE of a pgx or lib/pq error in err's chain, or "".
func sqlState(err error) string {
	var s interface{ SQLState() string }
	if errors.As(err, &s) {
		return s.SQLState()
	}
	return ""
}

// sqliteCode is the extended result code of a modernc or mattn error in
// err's chain.
func sqliteCode(err error) (int, bool) {
	var c interface{ Code() int }
	if errors.As(err, &c) {
		return c.Code(), true
	}
	return 0, false
}

// MySQL error numbers: ER_DUP_KEY, ER_DUP_ENTRY, ER_LOCK_WAIT_TIMEOUT,
// ER_LOCK_DEADLOCK and ER_DUP_ENTRY_WITH_KEY_NAME. InnoDB reports a
// deadlock even for single-row autocommit INSERTs racing on a unique
// index: their duplicate checks take gap locks that can wait on each
// other. The victim's statement was rolled back whole.
const (
	mysqlErrDupKey          = 1022
	mysqlErrDupEntry        = 1062
	mysqlErrLockWaitTimeout = 1205
	mysqlErrLockDeadlock    = 1213
	mysqlErrDupEntryKeyName = 1586
)

const mysqlDriverPkg = "github.com/go-sql-driver/mysql"

// mysqlErrorNumber finds a *mysql.MySQLError in err's chain and returns
// its Number. It matches the type by package and name rather than import
// the driver: every program that uses colcrypt would otherwise link it,
// and register "mysql" with database/sql. Number is the driver's
// exported, documented field (a uint16 since v1.0).
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
	if t.Kind() != reflect.Struct || t.Name() != "MySQLError" || !inPackage(t.PkgPath(), mysqlDriverPkg) {
		return 0, false
	}
	f := v.FieldByName("Number")
	if !f.IsValid() || f.Kind() != reflect.Uint16 {
		return 0, false
	}
	return uint16(f.Uint()), true
}
