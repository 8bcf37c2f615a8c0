package sqldialect

import "strconv"

// Key events (keystore's WithKeyEvents) need no table of their own: the
// audit trail (EventsTable) already gets one row per key change, written
// in the change's transaction, under a lock that makes its seq grow by one
// per committed change. Its highest seq is therefore the key table's
// epoch, and the rows past the seq a process saw last are exactly the
// changes it has not seen yet, each naming its tenant and operation.

// MaxEventOperationLen bounds the operation text read from a trail row,
// which anyone who can write the database can set; longer ones are cut.
// (Tenant ids longer than MaxTenantLen are read as "" and skipped.)
const MaxEventOperationLen = 32

// KeyEventQueries are the statements of key events.
type KeyEventQueries struct {
	Head   string // → the trail's highest seq, -1 if empty
	Since  string // seq, limit → seq, operation, tenant_id, version of later rows, in seq order
	States string // tenant → version, state of each of its rows
	// Notify (Postgres only) takes the channel and the payload; run in
	// the transaction of a change, the server delivers it on commit.
	Notify string
	Listen string // LISTEN on the channel (Postgres only)
	// Channel is the Postgres notification channel of the key table: its
	// trail's name, so two key tables in one database do not mix.
	Channel string
}

// KeyEventQueries returns the key-event statements of keyTable.
func (d Dialect) KeyEventQueries(keyTable string) KeyEventQueries {
	trail := d.Quote(EventsTable(keyTable))
	q := KeyEventQueries{
		Head: `SELECT COALESCE(MAX(seq), -1) FROM ` + trail,
		Since: d.Rebind(`SELECT seq, SUBSTR(operation, 1, ` + strconv.Itoa(MaxEventOperationLen) + `), ` +
			`CASE WHEN LENGTH(tenant_id) <= ` + strconv.Itoa(MaxTenantLen) + ` THEN tenant_id ELSE '' END, version FROM ` +
			trail + ` WHERE seq > ? ORDER BY seq LIMIT ?`),
		States:  d.Rebind(`SELECT version, state FROM ` + d.Quote(keyTable) + ` WHERE tenant_id = ?`),
		Channel: EventsTable(keyTable),
	}
	if d == Postgres {
		q.Notify = `SELECT pg_notify($1, $2)`
		q.Listen = `LISTEN ` + d.Quote(q.Channel)
	}
	return q
}
