package sqldialect

// EventsSuffix is appended to the key table's name to name its audit
// trail table: colcrypt_keys_events for colcrypt_keys, so each key table
// has its own trail.
const EventsSuffix = "_events"

// EventsTable names the audit trail table of a key table.
func EventsTable(keyTable string) string { return keyTable + EventsSuffix }

// EventsDDL returns the statement that creates the audit trail table of
// the key table if it does not exist. seq is the chain position: row 0 is
// the genesis row holding the wrapped chain key; every other row is one
// key operation. The primary key on seq makes a forked chain (two rows
// claiming one position) impossible even if serialization failed.
func (d Dialect) EventsDDL(keyTable string) string {
	q := d.Quote(EventsTable(keyTable))
	switch d {
	case MySQL:
		return `CREATE TABLE IF NOT EXISTS ` + q + ` (
	seq       BIGINT          NOT NULL PRIMARY KEY,
	at        DATETIME(6)     NOT NULL,
	operation VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
	tenant_id VARBINARY(1024) NOT NULL,
	version   BIGINT          NOT NULL,
	kek_uri   TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	actor     TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	key_seq   BIGINT          NOT NULL,
	chain_key BLOB,
	mac       VARBINARY(64)   NOT NULL
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`
	case SQLite:
		return `CREATE TABLE IF NOT EXISTS ` + q + ` (
	seq       INTEGER NOT NULL PRIMARY KEY,
	at        TEXT    NOT NULL,
	operation TEXT    NOT NULL,
	tenant_id TEXT    NOT NULL,
	version   INTEGER NOT NULL,
	kek_uri   TEXT    NOT NULL,
	actor     TEXT    NOT NULL,
	key_seq   INTEGER NOT NULL,
	chain_key BLOB,
	mac       BLOB    NOT NULL
)`
	}
	return `CREATE TABLE IF NOT EXISTS ` + q + ` (
	seq       bigint      NOT NULL PRIMARY KEY,
	at        timestamptz NOT NULL,
	operation text        NOT NULL,
	tenant_id text        NOT NULL,
	version   bigint      NOT NULL,
	kek_uri   text        NOT NULL,
	actor     text        NOT NULL,
	key_seq   bigint      NOT NULL,
	chain_key bytea,
	mac       bytea       NOT NULL
)`
}

// EventQueries are the audit trail's statements, built once per key
// table.
type EventQueries struct {
	LockHead string // serializes appenders: locks row 0
	Head     string // → seq, mac of the last row
	Insert   string // seq, at, operation, tenant, version, kek_uri, actor, key_seq, chain_key, mac
	ChainKey string // → seq, kek_uri, chain_key of the newest row of operation chainKeyOp
	All      string // every row in seq order
}

// EventQueries returns the statements of the audit trail of keyTable;
// chainKeyOp is the operation name of the rows that hold a chain key.
//
// LockHead is a locking read on Postgres and MySQL (its rows must be read
// and closed); on SQLite a write that changes nothing, which takes the one
// write lock (the transaction's earlier writes usually hold it already).
// Head locks too where it can, so that under InnoDB's REPEATABLE READ it
// reads the latest committed rows, not the transaction's older snapshot.
func (d Dialect) EventQueries(keyTable, chainKeyOp string) EventQueries {
	t := d.Quote(EventsTable(keyTable))
	r := d.Rebind
	q := EventQueries{
		Insert:   r(`INSERT INTO ` + t + ` (seq, at, operation, tenant_id, version, kek_uri, actor, key_seq, chain_key, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		ChainKey: `SELECT seq, kek_uri, chain_key FROM ` + t + ` WHERE operation = '` + chainKeyOp + `' ORDER BY seq DESC LIMIT 1`,
		All:      `SELECT seq, at, operation, tenant_id, version, kek_uri, actor, key_seq, chain_key, mac FROM ` + t + ` ORDER BY seq`,
		LockHead: `SELECT seq FROM ` + t + ` WHERE seq = 0 FOR UPDATE`,
		Head:     `SELECT seq, mac FROM ` + t + ` ORDER BY seq DESC LIMIT 1 FOR UPDATE`,
	}
	if d == SQLite {
		q.LockHead = `UPDATE ` + t + ` SET seq = seq WHERE seq = 0`
		q.Head = `SELECT seq, mac FROM ` + t + ` ORDER BY seq DESC LIMIT 1`
	}
	return q
}
