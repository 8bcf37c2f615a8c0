package keystore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// errStateMismatch is the Err of a "state-mismatch" Event: the key table's
// state column disagrees with its versions. It is reported, never
// returned; the Store keeps sealing under the highest live version.
var errStateMismatch = errors.New("keystore: key table state disagrees with its versions")

// sealRow chooses the row new values are sealed under: the tenant's
// highest live version, whatever the state column says. The state column
// is a hint (the table is data an attacker may write): trusting it would
// let anyone who can write the table send new values back to an old,
// maybe exposed, key by flipping two states. A disagreement is logged at
// error level and reported to the observer.
func (s *Store) sealRow(ctx context.Context, tenant string, t tenantRows) keyRow {
	top := *t.top
	var why string
	switch {
	case len(t.actives) == 0:
		why = fmt.Sprintf("no active row; versions up to %d are live", top.version)
	case t.actives[0] != top.version || len(t.actives) > 1:
		why = fmt.Sprintf("active row is version %d, the highest live version is %d", t.actives[0], top.version)
	default:
		return top
	}
	err := fmt.Errorf("%w: tenant %q: %s", errStateMismatch, tenant, why)
	s.log.LogAttrs(ctx, slog.LevelError, "keystore: the key table's state column disagrees with its versions; sealing under the highest live version",
		slog.String("tenant", tenant), slog.Uint64("version", uint64(top.version)), slog.String("error", err.Error()))
	s.emit(Event{Kind: eventStateMismatch, Tenant: tenant, Version: top.version, Err: err})
	return top
}
