package keystore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/colcrypt/colcrypt/kms"
)

// AuditEvents returns the audit trail in order, the tenant's events only
// when tenant is not "" (the genesis row belongs to no tenant). It reads
// the table only; it does not check the chain (VerifyAudit does). A key
// table from before the trail existed, never changed since, has none.
func (s *Store) AuditEvents(ctx context.Context, tenant string) ([]AuditEvent, error) {
	if err := s.errIfClosed(); err != nil {
		return nil, err
	}
	evs, err := s.readEvents(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AuditEvent, 0, len(evs))
	for _, e := range evs {
		if tenant == "" || e.Tenant == tenant {
			out = append(out, e.AuditEvent)
		}
	}
	return out, nil
}

// VerifyAudit checks the whole audit trail and returns how many events it
// checked. Every row must sit at the next position (0, 1, 2, …) and match
// its MAC, made under the chain key its key_seq names, over its fields
// and the previous row's MAC. Each chain-key row's key is unwrapped with
// the configured master key its kek_uri names (one KMS call each). The
// first row that fails is returned as an *Error of kind ErrAuditChainBroken (errors.Is
// ErrAuditChainBroken): an edited row fails its own MAC, a deleted one
// leaves a gap in the positions, and of two rows swapped the first fails,
// because each MAC covers its position. A chain-key row under a master
// key the Store is not configured with fails too: configure every master
// key the trail has used (WithMasterKeys) to verify it.
//
// Removing the newest rows leaves a shorter chain that still verifies:
// compare the count, or the last MAC, with a copy kept elsewhere.
func (s *Store) VerifyAudit(ctx context.Context) (n int, err error) {
	if err := s.errIfClosed(); err != nil {
		return 0, err
	}
	evs, err := s.readEvents(ctx)
	if err != nil {
		return 0, err
	}
	keys := map[int64][]byte{}
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	for i, e := range evs {
		if e.Seq != int64(i) {
			return i, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: fmt.Sprintf("found where event %d belongs: events deleted or renumbered", i)}
		}
		if e.Operation == opChainKey {
			if e.KeySeq != e.Seq {
				return i, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "chain-key row names another key"}
			}
			if keys[e.Seq], err = s.openChainKey(ctx, e); err != nil {
				return i, err
			}
		} else if len(e.wrapped) != 0 {
			return i, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "event row holds a chain key"}
		}
		key, ok := keys[e.KeySeq]
		if !ok {
			return i, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "names no earlier chain-key row"}
		}
		var prev []byte
		if i > 0 {
			prev = evs[i-1].MAC
		}
		if !hmac.Equal(eventMAC(key, e.AuditEvent, e.wrapped, prev), e.MAC) {
			reason := "does not match its MAC: edited, moved, or the event before it was deleted"
			if i > 0 && bytes.Equal(e.MAC, prev) {
				reason = "repeats the previous event's MAC"
			}
			return i, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: reason}
		}
	}
	return len(evs), nil
}

// openChainKey unwraps the chain key of a chain-key row.
func (s *Store) openChainKey(ctx context.Context, e storedEvent) ([]byte, error) {
	return s.openChainKeyN(ctx, e, s.attempts)
}

// openChainKeyN is openChainKey making at most attempts KMS calls.
func (s *Store) openChainKeyN(ctx context.Context, e storedEvent, attempts int) ([]byte, error) {
	kp, err := s.keepers.get(chainAADTenant(s.table), 0, e.KEKURI)
	if err != nil {
		return nil, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "chain key under a master key not configured: " + quoteName(e.KEKURI)}
	}
	key, err := s.kmsCallN(ctx, eventUnwrap, kp, chainAADTenant(s.table), 0, e.wrapped, attempts)
	if err != nil {
		if errors.Is(err, ErrKMS) && errors.Is(err, kms.ErrUnwrap) {
			return nil, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "chain key does not unwrap: replaced, or under another table's name"}
		}
		return nil, err
	}
	if len(key) != chainKeySize {
		clear(key)
		return nil, &Error{Kind: ErrAuditChainBroken, Seq: e.Seq, Reason: "chain key has the wrong length"}
	}
	return key, nil
}
