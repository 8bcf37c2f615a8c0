package keystore

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/kms"
)

// ErrUnknownMasterKey is returned for a key table row whose kek_uri names
// a master key the application did not configure: neither the keeper
// given to New nor one given to WithMasterKeys. The Store never opens or
// connects to a key a row names; the [Error] names the row.
var ErrUnknownMasterKey = errors.New("keystore: master key not configured")

// quoteName quotes an untrusted name for a message, cut at 200 bytes.
func quoteName(s string) string {
	if len(s) > 200 {
		return strconv.Quote(s[:200]) + "…"
	}
	return strconv.Quote(s)
}

// masterKeys is the fixed set of master keys the application configured,
// by canonical name (kms.Name). It is built once in New and never grows:
// a key table row selects among these keepers by name, and nothing a row
// says can open, reach or reconfigure another. A row stored with
// connection settings in its kek_uri (what older releases wrote) still
// matches its key, because only the canonical name is compared.
type masterKeys struct {
	primary *kms.Keeper
	byName  map[string]*kms.Keeper
	// ring is the keyring: the keepers every new data key is wrapped
	// under, primary first (WithKeyring).
	ring []*kms.Keeper
	// rank orders the configured keepers for unwrapping: the ring in
	// order, then the other master keys in the order configured.
	rank map[*kms.Keeper]int
	// health is each configured keeper's circuit breaker.
	health map[*kms.Keeper]*keyHealth
}

func newMasterKeys(primary *kms.Keeper, ring, others []*kms.Keeper) (masterKeys, error) {
	m := masterKeys{primary: primary, byName: map[string]*kms.Keeper{}, rank: map[*kms.Keeper]int{}, health: map[*kms.Keeper]*keyHealth{}}
	m.ring = append([]*kms.Keeper{primary}, ring...)
	all := append(append([]*kms.Keeper(nil), m.ring...), others...)
	for i, k := range all {
		if k == nil {
			return masterKeys{}, fmt.Errorf("keystore: New: nil kms.Keeper in WithKeyring or WithMasterKeys")
		}
		name := canonicalName(k.URI())
		prev, dup := m.byName[name]
		if dup && prev != k {
			return masterKeys{}, fmt.Errorf("keystore: New: two master keys named %s", quoteName(name))
		}
		if dup && i < len(m.ring) {
			return masterKeys{}, fmt.Errorf("keystore: New: master key %s twice in the keyring", quoteName(name))
		}
		if i < len(m.ring) && len(k.URI()) > sqldialect.MaxKEKNameLen {
			return masterKeys{}, fmt.Errorf("keystore: New: keyring master key name longer than %d bytes", sqldialect.MaxKEKNameLen)
		}
		m.byName[name] = k
		if _, seen := m.rank[k]; !seen {
			m.rank[k] = len(m.rank)
			m.health[k] = &keyHealth{}
		}
	}
	return m, nil
}

// canonicalName is kms.Name of s, or s itself where no registered driver
// reads it (a test keeper's name, or a scheme this program did not
// import): such a name then matches only itself, byte for byte.
func canonicalName(s string) string {
	if n, err := kms.Name(s); err == nil {
		return n
	}
	return s
}

// lookup returns the configured keeper that name (a stored kek_uri)
// names, parsing it only.
func (m *masterKeys) lookup(name string) (*kms.Keeper, bool) {
	if k, ok := m.byName[name]; ok {
		return k, true
	}
	k, ok := m.byName[canonicalName(name)]
	return k, ok
}

// get returns the configured keeper of the row (tenant, version) whose
// kek_uri is name, or an *Error of kind ErrUnknownMasterKey.
func (m *masterKeys) get(tenant string, version uint32, name string) (*kms.Keeper, error) {
	if k, ok := m.lookup(name); ok {
		return k, nil
	}
	return nil, &Error{Kind: ErrUnknownMasterKey, Tenant: tenant, Version: version, KEKURI: name}
}

// breakersOpen counts the configured keepers whose breaker is open.
func (m *masterKeys) breakersOpen(now int64) int {
	n := 0
	for _, h := range m.health {
		if h.open(now) {
			n++
		}
	}
	return n
}
