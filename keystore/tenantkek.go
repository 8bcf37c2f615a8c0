package keystore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// opSetTenantKEK records a tenant given its own master key
// (SetTenantMasterKey); its KEKURI is that key.
const opSetTenantKEK = "set-tenant-master-key"

// An assignment names a master key, and whoever can write the database can
// write one. Every process has every tenant's own master key configured
// (to open its keys), so a forged assignment could point tenant A's new
// keys at tenant B's master key, or at any other configured one. So each
// assignment carries a proof: a key-sized digest of the master key's name
// wrapped under that master key with a KMS context that binds the key
// table and the tenant. Only a process allowed to encrypt under the
// master key makes one, and it is checked (unwrapped, once per process)
// before the assignment decides any wrap. A row without a valid proof —
// copied from another tenant, pointed at another key, or written before
// proofs — makes key creation for the tenant fail, never fall back. What
// a writer of the database can still do: delete the assignment (the
// tenant's new keys then go to the keyring), or restore an older one of
// the same tenant while its master key is still configured.

// tenantKEKLabel names the assignment proof's KMS context.
const tenantKEKLabel = "colcrypt/tenant-kek/v1"

// proofTenant is the "tenant" of an assignment proof's KMS context: it
// holds a NUL, which validTenant refuses, so a proof's context never
// equals a data key's, and it names the key table and the tenant, so a
// proof cannot be moved to another table or tenant.
func proofTenant(table, tenant string) string {
	return "\x00" + tenantKEKLabel + "/" + table + "\x00" + tenant
}

// proofInput is what a proof wraps: a digest of the master key's
// canonical name, key-sized, so that the KMS sees only key-sized blobs.
func proofInput(name string) []byte {
	h := sha256.Sum256([]byte(tenantKEKLabel + "\x00" + canonicalName(name)))
	return h[:]
}

// maxProofLen bounds a stored proof before it is sent to the KMS: a
// wrapped 32-byte digest is a few hundred bytes under every driver.
const maxProofLen = 4096

// maxVerifiedAssignments bounds the assignments a Store remembers as
// checked; past it the set starts again empty (one KMS call each to
// refill).
const maxVerifiedAssignments = 1 << 14

// verifyAssignment checks that proof authenticates kp as the tenant's own
// master key in this key table, by unwrapping it under kp, once per
// (tenant, key, proof) for the Store's life.
func (s *Store) verifyAssignment(ctx context.Context, tenant string, kp *kms.Keeper, proof []byte) error {
	id := tenant + "\x00" + canonicalName(kp.URI()) + "\x00" + string(proof)
	s.assignMu.Lock()
	_, ok := s.assignOK[id]
	s.assignMu.Unlock()
	if ok {
		return nil
	}
	bad := &Error{Kind: ErrCorruptRow, Tenant: tenant, KEKURI: kp.URI(),
		Reason: "the tenant's master key assignment (" + sqldialect.TenantKEKTable(s.table) +
			") is not authenticated by that master key; if it is yours, set it again with SetTenantMasterKey (colcrypt keys set-kek)"}
	if len(proof) == 0 || len(proof) > maxProofLen {
		return bad
	}
	got, err := s.kmsCall(ctx, eventUnwrap, kp, proofTenant(s.table, tenant), 0, proof)
	if err != nil {
		if errors.Is(err, ErrKMS) && !kms.IsRetryable(err) && ctx.Err() == nil {
			return bad // the KMS refused the blob: not a proof of this tenant's
		}
		return err
	}
	same := constantTimeEqual(got, proofInput(kp.URI()))
	clear(got)
	if !same {
		return bad
	}
	s.assignMu.Lock()
	if s.assignOK == nil || len(s.assignOK) >= maxVerifiedAssignments {
		s.assignOK = map[string]struct{}{}
	}
	s.assignOK[id] = struct{}{}
	s.assignMu.Unlock()
	return nil
}

// ownKeeper returns the tenant's own master key if it has a stored
// assignment, checked (verifyAssignment): a configured keeper, whatever
// the stored name says.
func (s *Store) ownKeeper(ctx context.Context, tenant string) (*kms.Keeper, bool, error) {
	name, proof, ok, err := s.tenantOwnKEK(ctx, s.db, tenant)
	if err != nil || !ok {
		return nil, false, err
	}
	kp, err := s.keepers.get(tenant, 0, name)
	if err != nil {
		return nil, false, err
	}
	if err := s.verifyAssignment(ctx, tenant, kp, proof); err != nil {
		return nil, false, err
	}
	return kp, true, nil
}

// errAssignmentRace means a tenant was given its own master key between
// the wrap of a new key and the transaction that writes it.
var errAssignmentRace = errors.New("keystore: tenant master key changed")

// SetTenantMasterKey makes kp the tenant's own master key (bring your own
// key): stored with the key table (its name + "_tenant_keks"), it wraps
// the tenant's new keys alone, instead of the keyring, and every live key
// of the tenant is rewrapped under kp alone, its other copies deleted. So
// revoking kp in its KMS cuts every access to the tenant's data, which is
// what a customer owning its key expects. kp must be a master key this
// Store configured (WithMasterKeys or WithKeyring), and every process
// needs it configured to open the tenant's keys: a stored assignment names
// a key, it never adds one.
//
// Each key is unwrapped from its copies (failing over like a cold load),
// wrapped under kp, checked by unwrapping, and written by compare-and-set
// on the row's old copy in a transaction that also deletes the key's
// other copies and appends a "rewrap" audit event; the assignment itself
// appends a "set-tenant-master-key" event. A rotation racing with it
// wraps again under kp. It is idempotent and resumable: keys whose only
// copy is under kp are skipped. AddMasterKey leaves such tenants alone.
// The assignment takes precedence over TenantPolicy.KEK.
//
// The tenant's index keys (see RotateIndexKey) are moved the same way,
// after its data keys: an index key lets whoever holds it test guesses
// against the stored blind indexes, so a keyring copy of one would
// outlive the revocation too. The result counts both families.
func (s *Store) SetTenantMasterKey(ctx context.Context, tenant string, kp *kms.Keeper) (RewrapResult, error) {
	res, err := s.setOwnKEK(ctx, tenant, kp)
	if err != nil || s.index == nil {
		return res, err
	}
	ires, err := s.index.setOwnKEK(ctx, tenant, kp)
	res.Scanned += ires.Scanned
	res.Rewrapped += ires.Rewrapped
	res.Skipped += ires.Skipped
	res.Conflicts += ires.Conflicts
	return res, indexErr(err)
}

// setOwnKEK is SetTenantMasterKey within one key family.
func (s *Store) setOwnKEK(ctx context.Context, tenant string, kp *kms.Keeper) (RewrapResult, error) {
	var res RewrapResult
	if err := s.errIfClosed(); err != nil {
		return res, err
	}
	if err := validTenant(tenant); err != nil {
		return res, err
	}
	if kp == nil {
		return res, fmt.Errorf("keystore: set tenant master key: nil kms.Keeper")
	}
	if k, ok := s.keepers.lookup(kp.URI()); !ok || k != kp {
		return res, &Error{Kind: ErrUnknownMasterKey, Tenant: tenant, KEKURI: kp.URI()}
	}
	if err := s.assign(ctx, tenant, kp); err != nil {
		return res, err
	}
	r := rewrapper{s: s, cfg: rewrapConfig{batch: ringBatch}}
	after := int64(0)
	for {
		page, err := r.page(ctx, tenant, "", after)
		if err != nil {
			return res, err
		}
		for _, row := range page {
			res.Scanned++
			if err := s.moveToOwn(ctx, tenant, row.version, kp, &res); err != nil {
				return res, err
			}
		}
		if len(page) < ringBatch {
			break
		}
		after = int64(page[len(page)-1].version)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "keystore: tenant master key set",
		slog.String("tenant", tenant), slog.String("kek_uri", kp.URI()),
		slog.Int("rewrapped", res.Rewrapped), slog.Int("skipped", res.Skipped), slog.Int("conflicts", res.Conflicts))
	return res, nil
}

// assign stores kp as the tenant's master key, under the tenant's lock,
// with its audit event.
func (s *Store) assign(ctx context.Context, tenant string, kp *kms.Keeper) (err error) {
	chain, err := s.auditRef(ctx)
	if err != nil {
		return err
	}
	ctx, span := s.querySpan(ctx, "set_tenant_kek", tenant)
	defer func() { endSpan(span, err) }()
	proof, err := s.kmsCall(ctx, eventWrap, kp, proofTenant(s.table, tenant), 0, proofInput(kp.URI()))
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keystore: set master key of tenant %q: %w", tenant, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.lockTenantRead(ctx, tx, tenant); err != nil {
		return err
	}
	if _, err = s.execSpan(ctx, tx, "clear_tenant_kek", tenant, s.rq.ClearKEK, tenant); err != nil {
		return fmt.Errorf("keystore: set master key of tenant %q: %w", tenant, err)
	}
	if _, err = s.execSpan(ctx, tx, "insert_tenant_kek", tenant, s.rq.SetKEK, tenant, kp.URI(), proof, s.dialect.TimeArg(s.clock.wall())); err != nil {
		return fmt.Errorf("keystore: set master key of tenant %q: %w", tenant, err)
	}
	if err = s.appendEvent(ctx, tx, chain, opSetTenantKEK, tenant, 0, kp.URI()); err != nil {
		return err
	}
	return s.commitSpan(ctx, tx, tenant)
}

// moveToOwn rewraps one version under the tenant's own master key kp and
// deletes its other copies.
func (s *Store) moveToOwn(ctx context.Context, tenant string, version uint32, kp *kms.Keeper, res *RewrapResult) error {
	row, found, err := s.readCopies(ctx, s.db, tenant, version)
	if err != nil {
		return err
	}
	if !found || row.state == stateDestroyed {
		res.Conflicts++
		return nil
	}
	own := canonicalName(kp.URI())
	if len(row.copies) == 1 && canonicalName(row.kekURI) == own {
		res.Skipped++
		return nil
	}
	dek, _, err := s.unwrapCopies(ctx, tenant, version, row.copies)
	if err != nil {
		return err
	}
	defer clear(dek)
	if len(dek) != cipher.DEKSize {
		return corruptRow(tenant, int64(version), "unwrapped key has the wrong length")
	}
	wrapped, err := s.kmsCall(ctx, eventWrap, kp, tenant, version, dek)
	if err != nil {
		return err
	}
	check, err := s.kmsCall(ctx, eventUnwrap, kp, tenant, version, wrapped)
	if err != nil {
		return err
	}
	same := constantTimeEqual(check, dek)
	clear(check)
	if !same {
		return fmt.Errorf("keystore: set master key of tenant %q version %d: %s returned a different key on unwrap; row left unchanged",
			tenant, version, kp.URI())
	}
	chain, err := s.auditRef(ctx)
	if err != nil {
		return err
	}
	n, err := s.ownSwap(ctx, chain, tenant, row, kp, wrapped)
	if err != nil {
		return fmt.Errorf("keystore: set master key of tenant %q version %d: %w", tenant, version, err)
	}
	if n == 1 {
		res.Rewrapped++
	} else {
		res.Conflicts++
	}
	return nil
}

// ownSwap writes kp's copy into the key row by compare-and-set on the
// row's copy as read, deletes every other copy and appends the rewrap's
// audit event, under the tenant's lock.
func (s *Store) ownSwap(ctx context.Context, chain chainRef, tenant string, row keyRow, kp *kms.Keeper, wrapped []byte) (n int64, err error) {
	ctx, span := s.querySpan(ctx, "rewrap", tenant)
	defer func() { endSpan(span, err) }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = s.lockTenantRead(ctx, tx, tenant); err != nil {
		return 0, err
	}
	ts := s.dialect.TimeArg(s.clock.wall())
	r, err := s.execSpan(ctx, tx, "rewrap_swap", tenant, s.q.RewrapCAS, kp.URI(), wrapped, ts, tenant, int64(row.version), row.wrapped)
	if err != nil {
		return 0, err
	}
	if n, err = r.RowsAffected(); err != nil || n != 1 {
		tx.Rollback()
		return 0, err
	}
	if _, err = s.execSpan(ctx, tx, "destroy_copies", tenant, s.rq.DeleteVersion, tenant, int64(row.version)); err != nil {
		return 0, err
	}
	if err = s.appendEvent(ctx, tx, chain, opRewrap, tenant, row.version, kp.URI()); err != nil {
		return 0, err
	}
	return 1, s.commitSpan(ctx, tx, tenant)
}

// tenantOwnKEK returns the name of the master key the tenant owns, if
// SetTenantMasterKey gave it one, with the assignment's proof, unchecked
// (see ownKeeper).
func (s *Store) tenantOwnKEK(ctx context.Context, q querier, tenant string) (string, []byte, bool, error) {
	var name string
	var proof []byte
	err := q.QueryRowContext(ctx, s.rq.TenantKEK, tenant).Scan(&name, &proof)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil, false, nil
	case err != nil:
		return "", nil, false, fmt.Errorf("keystore: read master key of tenant %q: %w", tenant, err)
	}
	return name, proof, true, nil
}

// checkOwnKEK fails with errAssignmentRace when the tenant's stored
// master key, read inside tx under the tenant's lock, is not the one
// copies were made for.
func (s *Store) checkOwnKEK(ctx context.Context, tx *sql.Tx, tenant string, copies []wrapCopy) error {
	name, _, ok, err := s.tenantOwnKEK(ctx, tx, tenant)
	if err != nil || !ok {
		return err
	}
	if len(copies) != 1 || canonicalName(copies[0].kekURI) != canonicalName(name) {
		return errAssignmentRace
	}
	return nil
}
