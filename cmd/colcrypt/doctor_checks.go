package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
)

// doctorContext binds doctor's test blob to doctor: its purpose is not a
// data key's, so a wrapped data key can never be mistaken for it, and the
// test blob can never be passed off as a data key.
var doctorContext = kms.WrapContext{Purpose: "colcrypt/doctor-test-blob/v1"}

// Thresholds of the checks. Skew of a second is ordinary NTP noise; a
// minute means a clock that is not synchronised at all, which makes the
// key table's timestamps (written with this host's clock) and migration
// heartbeats (read against it) disagree with the database's. A cache that
// spends more than half the quota leaves too little for a cold start or a
// second application.
const (
	skewWarn  = time.Second
	skewFail  = time.Minute
	quotaWarn = 0.5
)

// doctor runs every check. Checks that need the database are skipped
// when it cannot be reached; the master keys and key files are checked
// anyway, since they do not depend on it. Only a bad flag is an error:
// everything doctor finds is in the report.
func (c *cli) doctor(ctx context.Context, q quotaFlags) (doctorReport, error) {
	var checks []checkResult
	add := func(r checkResult) { checks = append(checks, r) }

	urls := c.masterKeyURLs()
	k, dbCheck, err := c.doctorOpen(ctx)
	if err != nil {
		return doctorReport{}, err
	}
	add(dbCheck)
	var tableOK bool
	if k != nil {
		defer k.Close()
		s := schemaOf(k.d)
		var kt checkResult
		kt, tableOK = s.keyTableCheck(ctx, k.db, c.keyTable)
		add(kt)
		add(s.checkpointTableCheck(ctx, k.db, c.checkpointTable))
	}
	if len(urls) == 0 {
		add(checkResult{Check: "master_key", Status: statusFail, Detail: "no master key given",
			Fix: "pass --kms (and every --old-kms the key table still uses) or set " + envKMS})
	}
	for _, u := range urls {
		add(masterKeyCheck(ctx, u))
	}
	var live map[string]int64
	if k != nil && tableOK {
		var rows []checkResult
		live, rows = keyRowsCheck(ctx, k, c.keyTable, c.kmsList, urls)
		checks = append(checks, rows...)
	}
	if k != nil && tableOK {
		add(legacyIndexCheck(ctx, k, c.keyTable))
	}
	if k != nil {
		add(clockSkewCheck(ctx, k.db, k.d))
	}
	add(quotaCheck(ctx, k, q, live))
	files := map[string]bool{}
	for _, u := range urls {
		if r, ok := keyFileCheck(u); ok && !files[r.Target] {
			files[r.Target] = true // several ids in one file: one check
			add(r)
		}
	}
	rep := doctorReport{OK: true, Checks: checks}
	for _, r := range checks {
		if r.Status == statusFail {
			rep.OK = false
		}
	}
	return rep, nil
}

// masterKeyURLs is every --kms then every distinct --old-kms.
func (c *cli) masterKeyURLs() []string {
	var urls []string
	for _, u := range append(append([]string{c.kmsURL}, c.ringKMS...), c.oldKMS...) {
		if u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// doctorOpen connects to the database. A database that cannot be reached
// is a failed check, not an error, so the rest of the report still comes
// out; a --dsn, --key-table or --checkpoint-table that is malformed is a
// usage error.
func (c *cli) doctorOpen(ctx context.Context) (*conn, checkResult, error) {
	r := checkResult{Check: "database"}
	driver, source, dialect, err := parseDSN(c.dsn)
	if err != nil {
		return nil, r, err
	}
	db, err := sql.Open(driver, source)
	if err == nil {
		err = db.PingContext(ctx)
		db.Close()
	}
	if err != nil {
		r.Status, r.Detail = statusFail, "cannot connect: "+cliMessage(err)
		r.Fix = "check --dsn (or " + envDSN + "), the network and the database's credentials"
		return nil, r, nil
	}
	k, err := c.openWith(ctx, "", nil, nil)
	if err != nil {
		return nil, r, withCode(exitUsage, err)
	}
	version, err := schemaOf(dialect).version(ctx, k.db)
	if err != nil {
		k.Close()
		r.Status, r.Detail = statusFail, "connected, but cannot query it: "+cliMessage(err)
		r.Fix = "check the database user's privileges"
		return nil, r, nil
	}
	r.Status, r.Detail = statusOK, dialect.String()+" "+version
	return k, r, nil
}

// masterKeyCheck opens the master key at u and wraps and unwraps a fresh
// random blob under doctorAAD: a KMS that is reachable, lets this
// identity use the key both ways, and gives back what it was given. The
// blob is not a data key and is zeroed after.
func masterKeyCheck(ctx context.Context, u string) checkResult {
	r := checkResult{Check: "master_key", Target: u}
	if name, err := kms.Name(u); err == nil {
		r.Target = name
	}
	fail := func(what string, err error, fix string) checkResult {
		r.Status, r.Detail, r.Fix = statusFail, what+": "+cliMessage(err), fix
		return r
	}
	kek, err := kms.Open(ctx, u)
	if err != nil {
		return fail("cannot open", kmsOpenHint(u, err), "check the URL and this host's KMS credentials")
	}
	defer kek.Close()
	r.Target = kek.URI()
	blob := make([]byte, 32)
	defer clear(blob)
	if _, err := rand.Read(blob); err != nil {
		return fail("no randomness", err, "check the host")
	}
	start := time.Now()
	ct, err := kek.Wrap(ctx, blob, doctorContext)
	if err != nil {
		return fail("wrap failed", err, "grant this identity encrypt on the key, and check the KMS is reachable")
	}
	pt, err := kek.Unwrap(ctx, ct, doctorContext)
	defer clear(pt)
	if err != nil {
		return fail("unwrap failed", err, "grant this identity decrypt on the key, and check the KMS is reachable")
	}
	if !bytes.Equal(pt, blob) {
		r.Status, r.Detail, r.Fix = statusFail, "unwrap returned other bytes than were wrapped", "check the KMS driver and the key"
		return r
	}
	r.Status = statusOK
	r.Detail = "wraps and unwraps a test blob in " + roundDur(time.Since(start)).String()
	return r
}

// keyRowsCheck counts the key table's live rows (active and retired:
// destroyed rows hold no wrapped key) per master key, and fails each name
// that no configured master key has: the Store refuses to unwrap under a
// master key it was not given (keystore.ErrUnknownMasterKey), so those
// keys will not open. It returns the live rows per tenant for quotaCheck.
func keyRowsCheck(ctx context.Context, k *conn, table string, kmsURLs, urls []string) (map[string]int64, []checkResult) {
	configured := map[string]string{} // name → the flag that gave it
	for _, u := range urls {
		name, err := kms.Name(u)
		if err != nil {
			continue // masterKeyCheck reports it
		}
		if _, ok := configured[name]; !ok {
			configured[name] = "--old-kms"
			if slices.Contains(kmsURLs, u) {
				configured[name] = "--kms"
			}
		}
	}
	q := k.d.Quote(table)
	failed := func(err error) (map[string]int64, []checkResult) {
		return nil, []checkResult{{Check: "key_rows", Status: statusFail, Detail: "cannot read the key table: " + cliMessage(err),
			Fix: "check the database user may SELECT from " + table}}
	}
	perKEK := map[string]int64{}
	rows, err := k.db.QueryContext(ctx, "SELECT kek_uri, COUNT(*) FROM "+q+" WHERE state <> 'destroyed' GROUP BY kek_uri ORDER BY kek_uri")
	if err != nil {
		return failed(err)
	}
	var names []string
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			rows.Close()
			return failed(err)
		}
		perKEK[name] = n
		names = append(names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return failed(err)
	}
	perTenant := map[string]int64{}
	trows, err := k.db.QueryContext(ctx, "SELECT tenant_id, COUNT(*) FROM "+q+" WHERE state <> 'destroyed' GROUP BY tenant_id")
	if err != nil {
		return failed(err)
	}
	for trows.Next() {
		var tenant []byte // VARBINARY on MySQL
		var n int64
		if err := trows.Scan(&tenant, &n); err != nil {
			trows.Close()
			return failed(err)
		}
		perTenant[string(tenant)] = n
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return failed(err)
	}

	var out []checkResult
	if len(names) == 0 {
		out = append(out, checkResult{Check: "key_rows", Status: statusOK, Detail: "no live keys yet"})
	}
	for _, name := range names {
		n := perKEK[name]
		r := checkResult{Check: "key_rows", Target: name}
		if flag, ok := configured[name]; ok {
			r.Status, r.Detail = statusOK, fmt.Sprintf("%d live key rows, master key given by %s", n, flag)
		} else {
			r.Status = statusFail
			r.Detail = fmt.Sprintf("%d live key rows name a master key not given here: they will not open", n)
			r.Fix = "pass its URL with --old-kms (and to the application), then move them with colcrypt keys rewrap"
		}
		out = append(out, r)
	}
	for _, u := range urls {
		name, err := kms.Name(u)
		if slices.Contains(kmsURLs, u) || err != nil || perKEK[name] > 0 {
			continue
		}
		out = append(out, checkResult{Check: "key_rows", Target: name, Status: statusOK,
			Detail: "no live key rows: this --old-kms is no longer needed"})
	}
	return perTenant, out
}

// legacyIndexCheck counts the tenants the legacy index table marks: their
// blind index lookups (indexkey:auto) also try data key versions, which is
// right until migrate reindex has moved what a release before index keys
// wrote, and a lookup cost to clear afterwards.
func legacyIndexCheck(ctx context.Context, k *conn, table string) checkResult {
	r := checkResult{Check: "legacy_indexes", Target: sqldialect.LegacyIndexTable(table)}
	n, err := keystore.CountLegacyIndexes(ctx, k.db, keystore.WithTable(table), keystore.WithDialect(k.d.String()))
	switch {
	case err != nil:
		r.Status, r.Detail = statusWarn, "cannot read it: "+err.Error()
		r.Fix = "run colcrypt keys upgrade (schema version 4 adds it)"
	case n == 0:
		r.Status, r.Detail = statusOK, "no tenant's blind index lookups try data key versions"
	default:
		r.Status = statusWarn
		r.Detail = fmt.Sprintf("%d tenant(s) marked: their blind index lookups also try the data key versions a release before index keys may have used", n)
		r.Fix = "once colcrypt migrate reindex has moved every blind index column that release wrote, run colcrypt keys legacy-indexes --clear --all"
	}
	return r
}

// clockSkewCheck compares the database's clock with this host's, read at
// the middle of the round trip so the network delay cancels out.
func clockSkewCheck(ctx context.Context, db *sql.DB, dialect sqldialect.Dialect) checkResult {
	r := checkResult{Check: "clock_skew"}
	before := time.Now()
	var epoch float64
	err := db.QueryRowContext(ctx, schemaOf(dialect).Now).Scan(&epoch)
	after := time.Now()
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, "cannot read the database's clock: "+cliMessage(err), "check the database user's privileges"
		return r
	}
	mid := before.Add(after.Sub(before) / 2)
	sec, frac := math.Modf(epoch)
	skew := time.Unix(int64(sec), int64(frac*1e9)).Sub(mid)
	abs := skew.Abs()
	r.Detail = fmt.Sprintf("database clock is %s %s this host's (round trip %s)", roundDur(abs), aheadBehind(skew), roundDur(after.Sub(before)))
	switch {
	case abs > skewFail:
		r.Status = statusFail
	case abs > skewWarn:
		r.Status = statusWarn
	default:
		r.Status = statusOK
	}
	if r.Status != statusOK {
		r.Fix = "synchronise both clocks with NTP: key table timestamps and migration heartbeats compare them"
	}
	return r
}

// roundDur keeps a duration short enough to read at any scale.
func roundDur(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

func aheadBehind(d time.Duration) string {
	if d < 0 {
		return "behind"
	}
	return "ahead of"
}

// quotaCheck estimates the KMS calls per minute the application's key
// caches will make in steady state: every process unwraps each tenant's
// active key once per TTL (retired versions add to it only while old
// values are read). A cold start of every process at once makes the
// calls of one whole TTL in a burst.
func quotaCheck(_ context.Context, k *conn, q quotaFlags, live map[string]int64) checkResult {
	r := checkResult{Check: "kms_quota"}
	tenants, from := q.tenants, "--tenants"
	if tenants == 0 {
		tenants, from = len(live), "tenants with live keys"
		if live == nil {
			from = "tenants (key table not read; pass --tenants)"
		}
	}
	perMin := float64(tenants) * float64(q.processes) * float64(time.Minute) / float64(q.ttl)
	r.Detail = fmt.Sprintf("about %s KMS calls/min: %d %s × %d processes / TTL %s (a cold start makes %d at once)",
		strconv.FormatFloat(perMin, 'g', 3, 64), tenants, from, q.processes, q.ttl, tenants*q.processes)
	switch {
	case q.quota == 0:
		r.Status = statusOK
		r.Detail += "; no --kms-quota given"
	case perMin > q.quota:
		r.Status = statusFail
		r.Detail += fmt.Sprintf(", over the quota of %.0f/min", q.quota)
	case perMin > quotaWarn*q.quota:
		r.Status = statusWarn
		r.Detail += fmt.Sprintf(", more than half the quota of %.0f/min", q.quota)
	default:
		r.Status = statusOK
		r.Detail += fmt.Sprintf(", %.1f%% of the quota of %.0f/min", 100*perMin/q.quota, q.quota)
	}
	if r.Status != statusOK {
		r.Fix = "raise the cache TTL (keystore.Tuning.CacheTTL), serve stale keys in a KMS outage (Tuning.StaleGrace), or ask for a higher KMS quota"
	}
	return r
}

// keyFileCheck checks the permissions of the key file a local:// URL
// names; ok is false for other master keys, which have no file here.
func keyFileCheck(u string) (checkResult, bool) {
	if !strings.HasPrefix(u, "local:") {
		return checkResult{}, false
	}
	r := checkResult{Check: "key_file", Target: u}
	if p, err := url.Parse(u); err == nil {
		r.Target = p.Path
	}
	err := localkms.CheckURL(u)
	var ex *localkms.ExposedKeyFileError
	switch {
	case err == nil:
		r.Status, r.Detail = statusOK, "readable by its owner only"
	case errors.As(err, &ex):
		r.Status, r.Detail = statusWarn, fmt.Sprintf("mode %04o: group or others can read the master key", ex.Mode.Perm())
		r.Fix = "chmod 600 " + ex.Path
	default:
		r.Status, r.Detail, r.Fix = statusFail, cliMessage(kmsOpenHint(u, err)), "check the path in the URL"
	}
	return r, true
}
