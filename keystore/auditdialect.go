package keystore

// EventsSuffix is appended to the key table's name to name its audit
// trail table: colcrypt_keys_events for DefaultTable, so a Store given
// WithTable has its own trail.
const EventsSuffix = "_events"

// eventsTable names the audit trail of a key table.
func eventsTable(table string) string { return table + EventsSuffix }

// eventsDDL returns the statement that creates the audit trail table of
// the key table if it does not exist. seq is the chain position: row 0 is
// the genesis row holding the wrapped chain key; every other row is one
// key operation. The primary key on seq makes a forked chain (two rows
// claiming one position) impossible even if serialization failed.
func eventsDDL(d Dialect, table string) string {
	q := d.quote(eventsTable(table))
	switch d.Name() {
	case "mysql":
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
	case "sqlite":
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

// eventQueries are the audit trail's statements, built once per Store.
type eventQueries struct {
	lockHead string // serializes appenders: locks row 0
	head     string // → seq, mac of the last row
	insert   string // seq, at, operation, tenant, version, kek_uri, actor, key_seq, chain_key, mac
	chainKey string // → seq, kek_uri, chain_key of the newest chain-key row
	all      string // every row in seq order
}

func newEventQueries(d Dialect, table string) eventQueries {
	t := d.quote(eventsTable(table))
	r := d.rebind
	q := eventQueries{
		insert:   r(`INSERT INTO ` + t + ` (seq, at, operation, tenant_id, version, kek_uri, actor, key_seq, chain_key, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		chainKey: r(`SELECT seq, kek_uri, chain_key FROM ` + t + ` WHERE operation = '` + OpChainKey + `' ORDER BY seq DESC LIMIT 1`),
		all:      r(`SELECT seq, at, operation, tenant_id, version, kek_uri, actor, key_seq, chain_key, mac FROM ` + t + ` ORDER BY seq`),
	}
	if d.Name() == "sqlite" {
		// A write that changes nothing takes SQLite's one write lock; the
		// transaction's earlier writes usually hold it already.
		q.lockHead = `UPDATE ` + t + ` SET seq = seq WHERE seq = 0`
		q.head = `SELECT seq, mac FROM ` + t + ` ORDER BY seq DESC LIMIT 1`
	} else {
		// Both reads lock, so under InnoDB's REPEATABLE READ they read the
		// latest committed rows, not the transaction's older snapshot.
		q.lockHead = `SELECT seq FROM ` + t + ` WHERE seq = 0 FOR UPDATE`
		q.head = `SELECT seq, mac FROM ` + t + ` ORDER BY seq DESC LIMIT 1 FOR UPDATE`
	}
	return q
}
