package keystore

import "strconv"

// The SQL of key events, every dialect's in one place.
//
// Key events need no table of their own: the audit trail
// (table+EventsSuffix) already gets one row per key change, written in
// the change's transaction, under a lock that makes its seq grow by one
// per committed change. Its highest seq is therefore the key table's
// epoch, and the rows past the seq a process saw last are exactly the
// changes it has not seen yet, each naming its tenant and operation.

// maxEventsPerRead bounds the trail rows one catch-up query reads; a
// longer backlog is read in several queries.
const maxEventsPerRead = 256

// maxEventOperationLen bounds the operation text read from a trail row,
// which anyone who can write the database can set; longer ones are cut.
// (Tenant ids longer than MaxTenantLen are read as "" and skipped.)
const maxEventOperationLen = 32

// keyEventQueries are the statements of key events, built once per Store.
type keyEventQueries struct {
	head   string // → the trail's highest seq, -1 if empty
	since  string // seq, limit → seq, operation, tenant_id, version of later rows, in seq order
	states string // tenant → version, state of each of its rows
	// notify (Postgres only) takes the channel and the payload; run in
	// the transaction of a change, the server delivers it on commit.
	notify string
	listen string // LISTEN on the channel (Postgres only)
	// channel is the Postgres notification channel of the key table: its
	// trail's name, so two key tables in one database do not mix.
	channel string
}

func newKeyEventQueries(d Dialect, table string) keyEventQueries {
	trail := d.quote(eventsTable(table))
	r := d.rebind
	q := keyEventQueries{
		head: `SELECT COALESCE(MAX(seq), -1) FROM ` + trail,
		since: r(`SELECT seq, SUBSTR(operation, 1, ` + strconv.Itoa(maxEventOperationLen) + `), ` +
			`CASE WHEN LENGTH(tenant_id) <= ` + strconv.Itoa(MaxTenantLen) + ` THEN tenant_id ELSE '' END, version FROM ` +
			trail + ` WHERE seq > ? ORDER BY seq LIMIT ?`),
		states:  r(`SELECT version, state FROM ` + d.quote(table) + ` WHERE tenant_id = ?`),
		channel: eventsTable(table),
	}
	if d.Name() == "postgres" {
		q.notify = `SELECT pg_notify($1, $2)`
		q.listen = `LISTEN ` + d.quote(q.channel)
	}
	return q
}
