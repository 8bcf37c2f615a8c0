package keystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// KeyringResult counts what AddMasterKey or RemoveMasterKey did.
type KeyringResult struct {
	// Scanned counts the live (active or retired) key versions read.
	Scanned int
	// Added counts copies written under the added master key.
	Added int
	// Removed counts copies deleted under the removed master key;
	// Promoted those of them that were the key row's own, replaced in the
	// row by another copy.
	Removed, Promoted int
	// Skipped counts versions left alone: already holding a copy under
	// the added key, or none under the removed one.
	Skipped int
	// Conflicts counts versions that changed while being worked on
	// (shredded, destroyed, or changed by a concurrent run) and were left
	// as they now are.
	Conflicts int
	// Orphans counts copies deleted because their key row is gone or
	// destroyed (left behind by an older release's Shred or
	// DestroyVersion).
	Orphans int
}

// ErrLastCopy is the kind of the *LastCopyError RemoveMasterKey returns
// for data keys whose only copies that open are under the master key
// being removed.
var ErrLastCopy = errors.New("keystore: master key holds the last copy of a data key")

// KeyRef names one version of a tenant's data key.
type KeyRef struct {
	Tenant  string
	Version uint32
}

// LastCopyError lists the data keys RemoveMasterKey left alone because
// removing their copy under MasterKey would leave no copy that opens:
// every other copy is missing, under a master key this Store does not
// have, or does not unwrap. errors.Is(err, ErrLastCopy) holds. Add those
// keys' copies under another master key (AddMasterKey) first.
type LastCopyError struct {
	MasterKey string
	Keys      []KeyRef
}

func (e *LastCopyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s: %d data keys:", ErrLastCopy, quoteName(e.MasterKey), len(e.Keys))
	for i, k := range e.Keys {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(e.Keys)-i)
			break
		}
		fmt.Fprintf(&b, " %q v%d", k.Tenant, k.Version)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrLastCopy) hold.
func (e *LastCopyError) Is(target error) bool { return target == ErrLastCopy }

// AddMasterKey gives every live data key (every tenant, every active and
// retired version) a wrapped copy under kp, the step that adds a master
// key to the keyring for the keys that exist: deploy every process with
// kp in WithKeyring (so new keys get their copy), then run AddMasterKey.
// It also fills the copies a create left out while a ring key was down.
//
// For each version without a copy under kp it unwraps the key from its
// copies (failing over like a cold load), wraps it under kp, checks that
// kp unwraps the new copy to the same key, and inserts the copy in a
// transaction that locks the tenant's rows and finds the version still
// live, so a concurrent Shred or DestroyVersion never leaves a copy
// behind. Each copy written appends an "add-master-key" audit event. It is
// idempotent and resumable: versions that have a copy under kp are
// skipped, and so are tenants with their own master key
// (SetTenantMasterKey). On error it stops and returns the totals so far.
// It also deletes copies whose key row is destroyed or gone (Orphans).
//
// kp needs no place in this Store's configuration, but a copy is only
// used by Stores that configure kp (WithKeyring or WithMasterKeys).
func (s *Store) AddMasterKey(ctx context.Context, kp *kms.Keeper) (KeyringResult, error) {
	return s.maintainRing(ctx, kp, true)
}

// RemoveMasterKey deletes every copy of a data key under kp, the step
// that drops a master key from the keyring: deploy every process without
// kp in WithKeyring (so no new key gets a copy under it), then run
// RemoveMasterKey, then disable kp in its KMS.
//
// It never removes the last copy that opens: before a copy under kp is
// deleted, another copy, under a master key this Store configured, is
// unwrapped (failing over like a cold load). Versions with no such copy
// are left alone and listed in a *LastCopyError (errors.Is ErrLastCopy)
// returned once every other version is done. Where the key row's own copy
// is under kp, the copy that unwrapped replaces it in the row, by
// compare-and-set on the row's old copy, and leaves the copies table.
// Each copy removed appends a "remove-master-key" audit event, in its
// transaction. It is idempotent and resumable; a retryable KMS failure
// stops it with the totals so far. It also deletes copies whose key row
// is destroyed or gone (Orphans).
func (s *Store) RemoveMasterKey(ctx context.Context, kp *kms.Keeper) (KeyringResult, error) {
	return s.maintainRing(ctx, kp, false)
}

// maintainRing runs AddMasterKey (add) or RemoveMasterKey over the data
// keys, then over the index keys (see RotateIndexKey), which are wrapped
// under the same master keys. A refused last copy among the data keys
// does not stop the index keys' run; the errors of both are returned.
func (s *Store) maintainRing(ctx context.Context, kp *kms.Keeper, add bool) (KeyringResult, error) {
	m := ringMaint{s: s, kp: kp, add: add}
	res, err := m.run(ctx)
	if s.index == nil || (err != nil && !errors.Is(err, ErrLastCopy)) {
		return res, err
	}
	im := ringMaint{s: s.index, kp: kp, add: add}
	ires, ierr := im.run(ctx)
	res = res.add(ires)
	return res, errors.Join(err, indexErr(ierr))
}

// add returns the sum of two results.
func (r KeyringResult) add(o KeyringResult) KeyringResult {
	r.Scanned += o.Scanned
	r.Added += o.Added
	r.Removed += o.Removed
	r.Promoted += o.Promoted
	r.Skipped += o.Skipped
	r.Conflicts += o.Conflicts
	r.Orphans += o.Orphans
	return r
}

// ringMaint is one run of AddMasterKey (add) or RemoveMasterKey.
type ringMaint struct {
	s    *Store
	kp   *kms.Keeper
	add  bool
	res  KeyringResult
	last []KeyRef // versions RemoveMasterKey refused
}

// ringBatch is how many key rows one page reads.
const ringBatch = 100

func (m *ringMaint) op() string {
	if m.add {
		return opAddMasterKey
	}
	return opRemoveMasterKey
}

func (m *ringMaint) run(ctx context.Context) (KeyringResult, error) {
	s := m.s
	if err := s.errIfClosed(); err != nil {
		return m.res, err
	}
	if m.kp == nil {
		return m.res, fmt.Errorf("keystore: %s: nil kms.Keeper", m.op())
	}
	if len(m.kp.URI()) > sqldialect.MaxKEKNameLen {
		return m.res, fmt.Errorf("keystore: %s: master key name longer than %d bytes", m.op(), sqldialect.MaxKEKNameLen)
	}
	if !m.add {
		for _, k := range s.keepers.ring {
			if canonicalName(k.URI()) == canonicalName(m.kp.URI()) {
				return m.res, fmt.Errorf("keystore: %s: %s is in this Store's keyring: build the Store without it first", m.op(), quoteName(m.kp.URI()))
			}
		}
	}
	err := m.orphans(ctx)
	if err == nil {
		err = m.pages(ctx)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "keystore: "+m.op(),
		slog.String("kek_uri", m.kp.URI()), slog.Int("scanned", m.res.Scanned), slog.Int("added", m.res.Added),
		slog.Int("removed", m.res.Removed), slog.Int("promoted", m.res.Promoted), slog.Int("skipped", m.res.Skipped),
		slog.Int("conflicts", m.res.Conflicts), slog.Int("last_copies", len(m.last)), slog.Bool("complete", err == nil))
	if err == nil && len(m.last) > 0 {
		err = &LastCopyError{MasterKey: m.kp.URI(), Keys: m.last}
	}
	return m.res, err
}

// orphans deletes copies whose key row is destroyed or missing.
func (m *ringMaint) orphans(ctx context.Context) error {
	res, err := m.s.db.ExecContext(ctx, m.s.rq.PurgeOrphans)
	if err != nil {
		return fmt.Errorf("keystore: %s: delete orphaned copies: %w", m.op(), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("keystore: %s: delete orphaned copies: %w", m.op(), err)
	}
	m.res.Orphans += int(n)
	return nil
}

// pages walks every live key row in (tenant, version) order, reusing
// Rewrap's paging.
func (m *ringMaint) pages(ctx context.Context) error {
	r := rewrapper{s: m.s, cfg: rewrapConfig{batch: ringBatch}}
	afterTenant, afterVersion := "", int64(0)
	for {
		page, err := r.page(ctx, "", afterTenant, afterVersion)
		if err != nil {
			return err
		}
		for _, row := range page {
			m.res.Scanned++
			if err := m.one(ctx, row.tenant, row.version); err != nil {
				return err
			}
		}
		if len(page) < ringBatch {
			return nil
		}
		last := page[len(page)-1]
		afterTenant, afterVersion = last.tenant, int64(last.version)
	}
}

// under reports whether a copy's stored name names kp.
func (m *ringMaint) under(c wrapCopy) bool {
	return canonicalName(c.kekURI) == canonicalName(m.kp.URI())
}

// one adds or removes the copy of one version.
func (m *ringMaint) one(ctx context.Context, tenant string, version uint32) error {
	s := m.s
	row, found, err := s.readCopies(ctx, s.db, tenant, version)
	if err != nil {
		return err
	}
	if !found || row.state == stateDestroyed {
		m.res.Conflicts++
		return nil
	}
	var mine []wrapCopy
	var others []wrapCopy
	for _, c := range row.copies {
		if m.under(c) {
			mine = append(mine, c)
		} else {
			others = append(others, c)
		}
	}
	if m.add {
		if len(mine) > 0 {
			m.res.Skipped++
			return nil
		}
		if _, owned, err := s.ownKeeper(ctx, tenant); err != nil {
			return err
		} else if owned || s.policyOwnsKEK(tenant) {
			m.res.Skipped++ // its own master key wraps it alone
			return nil
		}
		return m.addOne(ctx, tenant, version, row.copies)
	}
	if len(mine) == 0 {
		m.res.Skipped++
		return nil
	}
	return m.removeOne(ctx, tenant, row, mine, others)
}

// addOne writes a copy under kp of a version that has none.
func (m *ringMaint) addOne(ctx context.Context, tenant string, version uint32, copies []wrapCopy) error {
	s := m.s
	dek, _, err := s.unwrapCopies(ctx, tenant, version, copies)
	if err != nil {
		return err
	}
	defer clear(dek)
	if len(dek) != cipher.DEKSize {
		return corruptRow(tenant, int64(version), "unwrapped key has the wrong length")
	}
	wrapped, err := s.kmsCall(ctx, eventWrap, m.kp, tenant, version, dek)
	if err != nil {
		return err
	}
	check, err := s.kmsCall(ctx, eventUnwrap, m.kp, tenant, version, wrapped)
	if err != nil {
		return err
	}
	same := constantTimeEqual(check, dek)
	clear(check)
	if !same {
		return fmt.Errorf("keystore: add master key: tenant %q version %d: %s returned a different key on unwrap; no copy written",
			tenant, version, m.kp.URI())
	}
	return m.tx(ctx, tenant, version, func(tx *sql.Tx, row keyRow) (func(), error) {
		for _, c := range row.copies {
			if m.under(c) {
				return nil, nil // a concurrent run added it
			}
		}
		if _, _, owned, err := s.tenantOwnKEK(ctx, tx, tenant); err != nil || owned || s.policyOwnsKEK(tenant) {
			return nil, err // given its own master key meanwhile
		}
		ts := s.dialect.TimeArg(s.clock.wall())
		if _, err := s.execSpan(ctx, tx, "insert_copy", tenant, s.rq.InsertWrap, tenant, int64(version), m.kp.URI(), wrapped, ts); err != nil {
			return nil, err
		}
		return func() { m.res.Added++ }, nil
	})
}

// removeOne deletes the copies under kp of a version once another copy
// has unwrapped, promoting that copy into the key row where the row's own
// is under kp.
func (m *ringMaint) removeOne(ctx context.Context, tenant string, row keyRow, mine, others []wrapCopy) error {
	s := m.s
	if len(others) == 0 {
		m.last = append(m.last, KeyRef{tenant, row.version})
		return nil
	}
	dek, kp, err := s.unwrapCopies(ctx, tenant, row.version, others)
	clear(dek)
	if err != nil {
		if kms.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		m.last = append(m.last, KeyRef{tenant, row.version})
		return nil
	}
	var keep wrapCopy // the copy that opened
	for _, c := range others {
		if k, ok := s.keepers.lookup(c.kekURI); ok && k == kp {
			keep = c
			break
		}
	}
	ownUnderKP := m.under(wrapCopy{kekURI: row.kekURI})
	return m.tx(ctx, tenant, row.version, func(tx *sql.Tx, now keyRow) (func(), error) {
		// The copy that opened must still be there, unchanged.
		kept := false
		for _, c := range now.copies {
			if c.kekURI == keep.kekURI && constantTimeEqual(c.wrapped, keep.wrapped) {
				kept = true
			}
		}
		if !kept || now.kekURI != row.kekURI || !constantTimeEqual(now.wrapped, row.wrapped) {
			return nil, nil
		}
		var removed, promoted int
		ts := s.dialect.TimeArg(s.clock.wall())
		if ownUnderKP {
			res, err := s.execSpan(ctx, tx, "promote_copy", tenant, s.q.RewrapCAS, keep.kekURI, keep.wrapped, ts, tenant, int64(row.version), row.wrapped)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return nil, err
			}
			if _, err := s.execSpan(ctx, tx, "delete_copy", tenant, s.rq.DeleteWrap, tenant, int64(row.version), keep.kekURI); err != nil {
				return nil, err
			}
			promoted++
		}
		for _, c := range mine {
			if c.kekURI == row.kekURI && constantTimeEqual(c.wrapped, row.wrapped) {
				removed++ // the row's own, replaced above
				continue
			}
			if _, err := s.execSpan(ctx, tx, "delete_copy", tenant, s.rq.DeleteWrap, tenant, int64(row.version), c.kekURI); err != nil {
				return nil, err
			}
			removed++
		}
		return func() { m.res.Removed += removed; m.res.Promoted += promoted }, nil
	})
}

// tx runs change on one version in a transaction that locks the tenant's
// rows and re-reads the version's copies; change returns, if it changed
// anything, what to count once the transaction commits, and the audit
// event is appended in the same transaction. A version no longer live, or that change
// declines, counts as a conflict.
func (m *ringMaint) tx(ctx context.Context, tenant string, version uint32, change func(*sql.Tx, keyRow) (func(), error)) (err error) {
	s := m.s
	chain, err := s.auditRef(ctx)
	if err != nil {
		return err
	}
	ctx, span := s.querySpan(ctx, m.op(), tenant)
	defer func() { endSpan(span, err) }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keystore: %s: tenant %q version %d: %w", m.op(), tenant, version, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.lockTenantRead(ctx, tx, tenant); err != nil {
		return err
	}
	row, found, err := s.readCopies(ctx, tx, tenant, version)
	if err != nil {
		return err
	}
	var done func()
	if found && row.state != stateDestroyed {
		if done, err = change(tx, row); err != nil {
			return fmt.Errorf("keystore: %s: tenant %q version %d: %w", m.op(), tenant, version, err)
		}
	}
	if done == nil {
		m.res.Conflicts++
		return tx.Rollback()
	}
	if err = s.appendEvent(ctx, tx, chain, m.op(), tenant, version, m.kp.URI()); err != nil {
		return err
	}
	if err = s.commitSpan(ctx, tx, tenant); err != nil {
		return fmt.Errorf("keystore: %s: tenant %q version %d: commit: %w", m.op(), tenant, version, err)
	}
	done()
	return nil
}
