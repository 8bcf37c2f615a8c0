package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	gomysql "github.com/go-sql-driver/mysql" // "mysql" database/sql driver
	_ "github.com/jackc/pgx/v5/stdlib"       // "pgx" database/sql driver
	_ "modernc.org/sqlite"                   // "sqlite" database/sql driver

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/awskms"   // awskms:// master keys
	_ "github.com/colcrypt/colcrypt/kms/gcpkms"   // gcpkms:// master keys
	_ "github.com/colcrypt/colcrypt/kms/localkms" // local:// master keys
	"github.com/colcrypt/colcrypt/migrate"
)

// conn is an open database with what every command builds on it.
type conn struct {
	db    *sql.DB
	d     sqldialect.Dialect
	kek   *kms.Keeper   // nil when the command did not need one
	ring  []*kms.Keeper // the further --kms: the keyring after kek
	older []*kms.Keeper // --old-kms: accepted for unwrapping only
	store *keystore.Store
	enc   *field.Encryptor
	m     *migrate.Migrator
}

func (k *conn) Close() {
	if k.store != nil {
		k.store.Close()
	}
	if k.kek != nil {
		k.kek.Close()
	}
	for _, r := range k.ring {
		r.Close()
	}
	for _, o := range k.older {
		o.Close()
	}
	if k.db != nil {
		k.db.Close()
	}
}

// sqliteBusyTimeout makes SQLite wait for a lock instead of failing at
// once: a migration's batches, the application and key creation take
// turns at the single writer lock.
const sqliteBusyTimeout = "_pragma=busy_timeout(10000)"

// parseDSN turns a --dsn into a database/sql driver name and data source.
func parseDSN(dsn string) (driver, source string, dialect sqldialect.Dialect, err error) {
	switch {
	case dsn == "":
		return "", "", 0, usageErr("no database: pass --dsn or set %s", envDSN)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "pgx", dsn, sqldialect.Postgres, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		rest := strings.TrimPrefix(dsn, "sqlite://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return "", "", 0, usageErr("--dsn %q names no file: use sqlite:///absolute/path.db or sqlite://relative/path.db", dsn)
		}
		if path, err = url.PathUnescape(path); err != nil {
			return "", "", 0, usageErr("--dsn: %v", err)
		}
		return "sqlite", "file:" + path + "?" + withBusyTimeout(query), sqldialect.SQLite, nil
	case strings.HasPrefix(dsn, "file:"):
		path, query, _ := strings.Cut(dsn, "?")
		return "sqlite", path + "?" + withBusyTimeout(query), sqldialect.SQLite, nil
	case strings.HasPrefix(dsn, mysqlScheme):
		// mysql:// then a go-sql-driver/mysql DSN, verbatim: the driver's
		// own syntax (user:pass@tcp(host:port)/db?param=value) is not a
		// URL, so it is not parsed as one.
		source := strings.TrimPrefix(dsn, mysqlScheme)
		if _, err := gomysql.ParseDSN(source); err != nil {
			return "", "", 0, usageErr("--dsn: bad MySQL DSN after %s (want user:password@tcp(host:3306)/db?param=value): %v", mysqlScheme, redactDSNErr(err))
		}
		return "mysql", source, sqldialect.MySQL, nil
	case !strings.Contains(dsn, "://") && (strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix(")):
		// A bare go-sql-driver DSN would otherwise pass for a Postgres
		// keyword/value string below.
		return "", "", 0, usageErr("--dsn: a MySQL DSN needs the %s prefix: %suser@tcp(host:3306)/db", mysqlScheme, mysqlScheme)
	case !strings.Contains(dsn, "://") && strings.Contains(dsn, "="):
		// A keyword/value connection string: "host=db user=app dbname=app".
		return "pgx", dsn, sqldialect.Postgres, nil
	}
	return "", "", 0, usageErr("--dsn: unsupported database URL (want postgres://…, mysql://…, sqlite://…, file:…)")
}

// mysqlScheme prefixes a go-sql-driver/mysql DSN in --dsn.
const mysqlScheme = "mysql://"

// redactDSNErr keeps the driver's parse error but not the DSN, which may
// hold a password: go-sql-driver's errors name no part of the DSN today,
// and this keeps it so if that changes.
func redactDSNErr(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "@") {
		return "invalid DSN"
	}
	return msg
}

func withBusyTimeout(query string) string {
	if strings.Contains(query, "busy_timeout") {
		return query
	}
	if query == "" {
		return sqliteBusyTimeout
	}
	return query + "&" + sqliteBusyTimeout
}

// needKMS says whether a command must open the master key.
type needKMS bool

const (
	withKMS    needKMS = true
	withoutKMS needKMS = false
)

// open connects to the database, opens the master keys if needed, and
// builds the key store, Encryptor and Migrator. Commands that never wrap
// or unwrap a key (listing, status, counting versions) run
// without --kms, and ignore it: opening a cloud KMS client may need
// credentials the operator's machine does not have.
func (c *cli) open(ctx context.Context, need needKMS, opts ...field.Option) (*conn, error) {
	if need == withoutKMS {
		return c.openWith(ctx, "", nil, nil, opts...)
	}
	if c.kmsURL == "" {
		return nil, usageErr("no master key: pass --kms or set %s", envKMS)
	}
	return c.openWith(ctx, c.kmsURL, c.ringKMS, c.oldKMS, opts...)
}

// openDB connects to the database only: no key store, so nothing reads
// or upgrades the key table.
func (c *cli) openDB(ctx context.Context) (*conn, error) {
	driver, source, dialect, err := parseDSN(c.dsn)
	if err != nil {
		return nil, err
	}
	k := &conn{d: dialect}
	if k.db, err = sql.Open(driver, source); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := k.db.PingContext(ctx); err != nil {
		k.Close()
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	return k, nil
}

// openWith is open with the master key kmsURL ("" for none), the
// keyring's further master keys (ring, in unwrap order) and older master
// keys accepted for unwrapping. These URLs, from the operator, are the
// only master keys the store uses: a key table row naming another fails
// (keystore.ErrUnknownMasterKey).
func (c *cli) openWith(ctx context.Context, kmsURL string, ring, older []string, opts ...field.Option) (*conn, error) {
	k, err := c.openDB(ctx)
	if err != nil {
		return nil, err
	}
	kek := kms.NewKeeper("none:", noKMS{})
	if kmsURL != "" {
		c.warnKeyFile(kmsURL)
		if k.kek, err = kms.Open(ctx, kmsURL); err != nil {
			k.Close()
			return nil, kmsOpenHint(kmsURL, err)
		}
		kek = k.kek
	}
	seen := map[string]bool{kek.URI(): true}
	for _, u := range ring {
		if name, err := kms.Name(u); err == nil && seen[name] {
			k.Close()
			return nil, usageErr("--kms %s is given twice: a keyring holds each master key once", name)
		}
		c.warnKeyFile(u)
		r, err := kms.Open(ctx, u)
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("--kms: %w", kmsOpenHint(u, err))
		}
		k.ring = append(k.ring, r)
		seen[r.URI()] = true
	}
	for _, u := range older {
		if name, err := kms.Name(u); err == nil && seen[name] {
			continue // the same key given twice
		}
		c.warnKeyFile(u)
		o, err := kms.Open(ctx, u)
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("--old-kms: %w", kmsOpenHint(u, err))
		}
		k.older = append(k.older, o)
		seen[o.URI()] = true
	}
	sopts := []keystore.Option{keystore.WithTable(c.keyTable), keystore.WithDialect(k.d.String()),
		keystore.WithKeyring(k.ring...), keystore.WithMasterKeys(k.older...)}
	if l := c.logger(); l != nil {
		sopts = append(sopts, keystore.WithTelemetry(keystore.Telemetry{Logger: l}))
	}
	if c.observer != nil {
		sopts = append(sopts, keystore.WithTelemetry(keystore.Telemetry{Observer: c.observer}))
	}
	if k.store, err = keystore.New(k.db, kek, sopts...); err != nil {
		k.Close()
		return nil, err
	}
	k.enc = field.NewEncryptor(k.store, opts...)
	if k.m, err = migrate.New(k.db, k.enc, migrate.WithDialect(k.d.String()), migrate.WithCheckpointTable(c.checkpointTable)); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// errNoKMS is what a command without --kms gets if it does need a key
// after all (a value to open whose key is not cached, say).
var errNoKMS = errors.New("this command needs the master key: pass --kms or set " + envKMS)

// noKMS is the master key of commands run without --kms: every call fails.
type noKMS struct{}

var _ kms.Driver = noKMS{}

func (noKMS) Wrap(context.Context, []byte, kms.WrapContext) ([]byte, error)   { return nil, errNoKMS }
func (noKMS) Unwrap(context.Context, []byte, kms.WrapContext) ([]byte, error) { return nil, errNoKMS }
func (noKMS) Close() error                                                    { return nil }
