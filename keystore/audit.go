package keystore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// The operations an audit event records.
const (
	// opChainKey is a row holding a chain key, wrapped by a master key:
	// row 0, and a new one whenever a Store finds the newest chain key
	// under a master key it does not hold (after a master key change).
	opChainKey = "chain-key"
	// opCreate is a tenant's first key (Active, InitTenant).
	opCreate = "create"
	// opRotate is a new active version (Rotate).
	opRotate = "rotate"
	// opRewrap is one version moved to another master key (Rewrap); its
	// KEKURI is the new master key.
	opRewrap = "rewrap"
	// opShred is every version of a tenant destroyed (Shred).
	opShred = "shred"
	// opDestroyVersion is one retired version destroyed (DestroyVersion).
	opDestroyVersion = "destroy-version"
	// opAddMasterKey is one version given a copy under another master
	// key (AddMasterKey); its KEKURI is that master key.
	opAddMasterKey = "add-master-key"
	// opRemoveMasterKey is one version's copy under a master key deleted
	// (RemoveMasterKey); its KEKURI is that master key.
	opRemoveMasterKey = "remove-master-key"
)

// AuditEvent is one row of the audit trail: what was done to which key,
// when, under which master key and by whom. It holds no key material.
type AuditEvent struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Operation string    `json:"operation"`
	Tenant    string    `json:"tenant,omitempty"`
	Version   uint32    `json:"version,omitempty"`
	KEKURI    string    `json:"kek_uri"`
	Actor     string    `json:"actor"`
	// KeySeq is the seq of the chain-key row whose key made MAC.
	KeySeq int64 `json:"key_seq"`
	// MAC is the row's link in the chain: HMAC-SHA256 under the chain key
	// of its fields and the previous row's MAC.
	MAC []byte `json:"mac"`
}

// ErrAuditChainBroken is the kind of the [Error] VerifyAudit returns when a row of the trail was edited, deleted or reordered.
var ErrAuditChainBroken = errors.New("keystore: audit chain broken")

// ErrAuditTable is wrapped when the audit trail table cannot be read or
// created: run `colcrypt keys init` (CreateTable) with a user allowed to
// create tables.
var ErrAuditTable = errors.New("keystore: audit trail table unavailable (run colcrypt keys init)")

// errChainKeyRace means another process appended a usable chain-key row
// while this one was wrapping its own.
var errChainKeyRace = errors.New("keystore: audit chain key race")

// chainKeySize is the HMAC-SHA256 key length.
const chainKeySize = 32

// chainLabel domain-separates the MAC input and the chain key's KMS
// context from every other use of the master key.
const chainLabel = "colcrypt/keystore/audit-chain/v1"

// auditChain caches the unwrapped chain key of the Store's trail and the
// seq of the chain-key row that holds it.
type auditChain struct {
	mu    sync.Mutex
	key   []byte
	seq   int64
	ready bool // the events table exists (or was just created)
}

// chainAADTenant is the "tenant" under which chain keys are wrapped: it
// holds a NUL, which validTenant refuses, so a chain key's KMS context
// can never equal a data key's, and it names the table, so one table's
// wrapped chain key cannot be passed off as another's.
func chainAADTenant(table string) string { return "\x00" + chainLabel + "/" + table }

// maxChainKeyAttempts bounds chainKey's loop against other processes
// starting the trail at the same moment.
const maxChainKeyAttempts = 5

// chainKey returns the chain key this Store MACs its events with and the
// seq of its chain-key row. It is the newest chain-key row's key when a
// configured master key unwraps it; otherwise (no trail yet, or a trail
// whose newest chain key is under a master key this Store does not have)
// it appends a new chain-key row holding a fresh key wrapped by the
// Store's master key, when create is set. The events table is created
// first if missing. The KMS is called once per Store, outside any
// transaction. With create false and no chain key it returns nil.
func (s *Store) chainKey(ctx context.Context, create bool) ([]byte, int64, error) {
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	if s.audit.key != nil {
		return s.audit.key, s.audit.seq, nil
	}
	if create && !s.audit.ready {
		if err := createEventsTable(ctx, s.db, s.dialect, s.table); err != nil {
			return nil, 0, err
		}
		s.audit.ready = true
	}
	var (
		wrapped []byte // our fresh key, wrapped, once one is needed
		under   string // the master key that wrapped it
		fresh   []byte
		stuck   = int64(-1) // seq of a chain key whose master key is down
	)
	defer func() { clear(fresh) }()
	// With a keyring, a chain key whose master key is down is not waited
	// for: a new segment starts under a ring key that works.
	attempts := s.attempts
	if len(s.keepers.ring) > 1 {
		attempts = 1
	}
	for range maxChainKeyAttempts {
		g, found, err := s.readChainKeyRow(ctx)
		if err != nil {
			return nil, 0, err
		}
		if found {
			_, kerr := s.keepers.get(chainAADTenant(s.table), 0, g.KEKURI)
			switch {
			case kerr == nil && g.Seq == stuck:
				// Still the segment that would not open: append ours.
			case kerr == nil:
				key, err := s.openChainKeyN(ctx, g, attempts)
				if err == nil {
					s.audit.key, s.audit.seq = key, g.Seq
					return key, g.Seq, nil
				}
				if len(s.keepers.ring) == 1 || !kms.IsRetryable(err) {
					return nil, 0, err
				}
				stuck = g.Seq
			case !errors.Is(kerr, ErrUnknownMasterKey):
				return nil, 0, kerr
			}
			// Under a master key this Store does not hold: start a new
			// segment under its own.
		}
		if !create {
			return nil, 0, nil
		}
		if wrapped == nil {
			fresh = make([]byte, chainKeySize)
			rand.Read(fresh)
			if wrapped, under, err = s.wrapChainKey(ctx, fresh); err != nil {
				return nil, 0, err
			}
		}
		seq, err := s.appendChainKey(ctx, fresh, wrapped, under, stuck)
		if err == nil {
			s.audit.key, s.audit.seq, fresh = fresh, seq, nil
			return s.audit.key, seq, nil
		}
		// Another process appended first: use its key if it can.
		if !errors.Is(err, errChainKeyRace) && !s.dialect.IsUniqueViolation(err) && !s.dialect.IsSerializationFailure(err) {
			return nil, 0, err
		}
	}
	return nil, 0, fmt.Errorf("%w: starting the audit trail", ErrConflict)
}

// appendChainKey appends a chain-key row holding wrapped, MACed under key
// itself, and returns its seq. On an empty trail it is row 0, and a
// concurrent first row makes the insert fail with a unique violation.
// kekURI names the master key that wrapped it; stuck is the seq of a
// chain-key row whose master key was down (-1 if none), which does not
// count as another process's newer segment.
func (s *Store) appendChainKey(ctx context.Context, key, wrapped []byte, kekURI string, stuck int64) (seq int64, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	seq, prev, err := s.lockedHead(ctx, tx)
	if errors.Is(err, sql.ErrNoRows) {
		// An empty trail: there is no row 0 to lock, and InnoDB's gap
		// locks on an empty range would deadlock racing first inserts.
		// Insert row 0 on its own; its primary key picks one winner.
		tx.Rollback()
		ev := AuditEvent{Seq: 0, At: auditTime(s.clock.wall()), Operation: opChainKey, KEKURI: kekURI, Actor: actorFrom(ctx)}
		if err := s.insertEvent(ctx, s.db, ev, wrapped, eventMAC(key, ev, wrapped, nil)); err != nil {
			return 0, err
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	// Another process may have started the trail, or a segment under a
	// master key this Store holds, since chainKey looked: use that one.
	var (
		at  int64
		uri string
		w   []byte
	)
	if err = tx.QueryRowContext(ctx, s.eq.ChainKey).Scan(&at, &uri, &w); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	if _, kerr := s.keepers.get("", 0, uri); err == nil && kerr == nil && at != stuck {
		return 0, errChainKeyRace
	}
	ev := AuditEvent{Seq: seq + 1, At: auditTime(s.clock.wall()), Operation: opChainKey, KEKURI: kekURI,
		Actor: actorFrom(ctx), KeySeq: seq + 1}
	if err = s.insertEvent(ctx, tx, ev, wrapped, eventMAC(key, ev, wrapped, prev)); err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	return ev.Seq, nil
}

// wrapChainKey wraps a fresh chain key under the first ring key that
// wraps it, in ring order with keys behind an open breaker last, and
// returns the master key's name.
func (s *Store) wrapChainKey(ctx context.Context, key []byte) ([]byte, string, error) {
	now := s.clock.wall().UnixNano()
	var ready, later []*kms.Keeper
	for _, kp := range s.keepers.ring {
		if s.keepers.health[kp].admit(now, s.cooldown) {
			ready = append(ready, kp)
		} else {
			later = append(later, kp)
		}
	}
	all := append(ready, later...)
	var last error
	for i, kp := range all {
		attempts := 1
		if i == len(all)-1 {
			attempts = s.attempts
		}
		wrapped, err := s.kmsCallN(ctx, eventWrap, kp, chainAADTenant(s.table), 0, key, attempts)
		if err == nil {
			return wrapped, kp.URI(), nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", last
}

// storedEvent is an event row as read, with a chain-key row's wrapped
// chain key.
type storedEvent struct {
	AuditEvent
	wrapped []byte
}

func (s *Store) readChainKeyRow(ctx context.Context) (storedEvent, bool, error) {
	g := storedEvent{AuditEvent: AuditEvent{Operation: opChainKey}}
	err := s.db.QueryRowContext(ctx, s.eq.ChainKey).Scan(&g.Seq, &g.KEKURI, &g.wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	return g, true, nil
}

// createEventsTable creates the audit trail table of a key table if it
// does not exist, under the dialect's DDL lock.
func createEventsTable(ctx context.Context, db *sql.DB, d sqldialect.Dialect, table string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if l := d.DDLLock(sqldialect.EventsTable(table)); l != "" {
		if _, err = tx.ExecContext(ctx, l); err != nil {
			return fmt.Errorf("%w: %w", ErrAuditTable, err)
		}
	}
	if _, err = tx.ExecContext(ctx, d.EventsDDL(table)); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	return nil
}

// auditTime is an event's time as every dialect stores it exactly:
// UTC, whole microseconds.
func auditTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// eventMAC is the chain link of ev: HMAC-SHA256 under key of the
// length-prefixed fields (its seq included, so a row moved to another
// position fails), a chain-key row's wrapped key, and prev, the MAC of
// the row before it.
func eventMAC(key []byte, ev AuditEvent, wrapped, prev []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(cipher.AppendCanonical(nil, chainLabel,
		strconv.FormatInt(ev.Seq, 10),
		strconv.FormatInt(ev.At.UnixMicro(), 10),
		ev.Operation, ev.Tenant,
		strconv.FormatUint(uint64(ev.Version), 10),
		ev.KEKURI, ev.Actor, strconv.FormatInt(ev.KeySeq, 10), string(wrapped), string(prev)))
	return m.Sum(nil)
}

// appendEvent adds one event to the trail inside tx, the transaction of
// the change it records, so both commit or neither does. The chain key
// was fetched before tx began (no KMS call under a lock). The head is
// locked first, so appenders from every process run one after another
// and the chain cannot fork; every key operation takes its tenant's lock
// before this one, so the order of locks is always the same.
func (s *Store) appendEvent(ctx context.Context, tx *sql.Tx, c chainRef, op, tenant string, version uint32, kekURI string) error {
	last, prev, err := s.lockedHead(ctx, tx)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: the trail lost its chain-key row", ErrAuditTable)
	}
	if err != nil {
		return err
	}
	ev := AuditEvent{Seq: last + 1, At: auditTime(s.clock.wall()), Operation: op, Tenant: tenant, Version: version,
		KEKURI: kekURI, Actor: actorFrom(ctx), KeySeq: c.seq}
	if err := s.insertEvent(ctx, tx, ev, nil, eventMAC(c.key, ev, nil, prev)); err != nil {
		return err
	}
	return s.announceChange(ctx, tx, ev.Seq)
}

// chainRef is the chain key a Store MACs with and its row's seq.
type chainRef struct {
	key []byte
	seq int64
}

// auditRef fetches the chain key for an operation about to run.
func (s *Store) auditRef(ctx context.Context) (chainRef, error) {
	k, seq, err := s.chainKey(ctx, true)
	return chainRef{k, seq}, err
}

// lockedHead locks the trail against other appenders until tx ends and
// returns the seq and MAC of its last row (sql.ErrNoRows on an empty
// trail).
func (s *Store) lockedHead(ctx context.Context, tx *sql.Tx) (int64, []byte, error) {
	if err := s.lockHead(ctx, tx); err != nil {
		return 0, nil, err
	}
	var (
		last int64
		prev []byte
	)
	qctx, span := s.querySpan(ctx, "audit_head", "")
	err := tx.QueryRowContext(qctx, s.eq.Head).Scan(&last, &prev)
	endSpan(span, spanErr(err))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, err
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read chain head: %w", ErrAuditTable, err)
	}
	return last, prev, nil
}

// insertEvent writes one event row.
func (s *Store) insertEvent(ctx context.Context, tx querier, ev AuditEvent, wrapped, mac []byte) error {
	_, err := s.execSpan(ctx, tx, "audit_insert", ev.Tenant, s.eq.Insert, ev.Seq, s.dialect.TimeArg(ev.At), ev.Operation, ev.Tenant,
		int64(ev.Version), ev.KEKURI, ev.Actor, ev.KeySeq, wrapped, mac)
	if err != nil {
		if s.dialect.IsUniqueViolation(err) || s.dialect.IsSerializationFailure(err) {
			return err
		}
		return fmt.Errorf("%w: append event: %w", ErrAuditTable, err)
	}
	return nil
}

// lockHead locks row 0 of the trail until tx ends. On Postgres and MySQL it
// is a locking read whose rows are drained (see lockTenantRead).
func (s *Store) lockHead(ctx context.Context, tx *sql.Tx) (err error) {
	ctx, span := s.querySpan(ctx, "audit_lock", "")
	defer func() { endSpan(span, err) }()
	if err := s.runLock(ctx, tx, s.eq.LockHead); err != nil {
		return fmt.Errorf("%w: lock chain: %w", ErrAuditTable, err)
	}
	return nil
}

// readEvents reads the whole trail in seq order.
func (s *Store) readEvents(ctx context.Context) ([]storedEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.eq.All)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var (
			e storedEvent
			v int64
		)
		if err := rows.Scan(&e.Seq, timeCol{&e.At}, &e.Operation, &e.Tenant, &v, &e.KEKURI, &e.Actor, &e.KeySeq, &e.wrapped, &e.MAC); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAuditTable, err)
		}
		if v < 0 || v > 1<<32-1 {
			return nil, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "version out of range"}
		}
		e.Version = uint32(v)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuditTable, err)
	}
	return out, nil
}
