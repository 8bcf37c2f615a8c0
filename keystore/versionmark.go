package keystore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// missingMessage is the message of an ErrKeyNotFound Error for a key
// row that went missing or was replaced.
func (e *Error) missingMessage() string {
	if e.Replaced {
		return fmt.Sprintf("keystore: key row of tenant %q version %d was replaced: the key table holds another data key than the one this process used under that version; values sealed under the earlier key cannot be opened until the row is restored",
			e.Tenant, e.Version)
	}
	if e.Version != 0 {
		return fmt.Sprintf("keystore: key row of tenant %q version %d is missing from the key table (deleted or replaced; this process saw versions up to %d): values sealed under it cannot be opened until the row is restored",
			e.Tenant, e.Version, e.Highest)
	}
	return fmt.Sprintf("keystore: key rows of tenant %q are missing from the key table (this process saw versions up to %d, the table shows %d): deleted or replaced rows; no key is issued under a version number already used",
		e.Tenant, e.Highest, e.Shown)
}

// versionMarks remembers, per tenant, the highest key version this
// process has seen in the key table (a version number is never issued
// twice, so the highest never goes down), a fingerprint of each version's
// data key (a version's key never changes: Rewrap wraps the same key
// again), and the versions it destroyed, so that a load that read a row
// before DestroyVersion cannot bring the key back into the cache. It is
// bounded: past its capacity an arbitrary tenant is forgotten, which only
// weakens the checks for that tenant.
type versionMarks struct {
	mu  sync.Mutex
	m   map[string]*versionMark
	cap int
	// fpKey keys the fingerprints: random per Store, so a fingerprint
	// says nothing about a key outside this process.
	fpKey [32]byte
}

type versionMark struct {
	highest uint32
	// keys lists the versions seen with a fingerprint or destroyed: a
	// tenant has a few, and a list of one costs 24 bytes where a map of
	// one costs 190. One list, not one per kind, keeps a mark at 32
	// bytes.
	keys []versionKey
}

type versionKey struct {
	version   uint32
	fp        fingerprint
	hasFP     bool // fp is set: vouch saw the version's key
	destroyed bool // this process destroyed the version
}

// find returns the index of version in m.keys, or -1.
func (m *versionMark) find(version uint32) int {
	return slices.IndexFunc(m.keys, func(k versionKey) bool { return k.version == version })
}

// fingerprint identifies a data key within one process: HMAC-SHA256 under
// the Store's random fpKey, truncated. It is not the key and does not
// lead to it.
type fingerprint [16]byte

func newVersionMarks(capacity int) *versionMarks {
	vm := &versionMarks{m: make(map[string]*versionMark), cap: capacity}
	rand.Read(vm.fpKey[:])
	return vm
}

// vouch records the fingerprint of the data key the table holds for the
// tenant's version, and fails with an Error of kind ErrKeyNotFound (Replaced) if this
// process saw another key under that version before.
func (vm *versionMarks) vouch(tenant string, version uint32, dek []byte) error {
	h := hmac.New(sha256.New, vm.fpKey[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(tenant)))
	h.Write(n[:])
	h.Write([]byte(tenant))
	binary.BigEndian.PutUint32(n[:], version)
	h.Write(n[:])
	h.Write(dek)
	var fp fingerprint
	copy(fp[:], h.Sum(nil))
	vm.mu.Lock()
	defer vm.mu.Unlock()
	m := vm.markLocked(tenant)
	i := m.find(version)
	switch {
	case i < 0:
		m.keys = append(m.keys, versionKey{version: version, fp: fp, hasFP: true})
	case !m.keys[i].hasFP:
		m.keys[i].fp, m.keys[i].hasFP = fp, true
	case m.keys[i].fp != fp:
		return &Error{Kind: ErrKeyNotFound, Tenant: tenant, Version: version, Highest: m.highest, Replaced: true}
	}
	m.highest = max(m.highest, version)
	return nil
}

// markLocked returns the tenant's mark, making room for it.
func (vm *versionMarks) markLocked(tenant string) *versionMark {
	m := vm.m[tenant]
	if m == nil {
		if len(vm.m) >= vm.cap {
			for t := range vm.m {
				delete(vm.m, t)
				break
			}
		}
		m = &versionMark{}
		vm.m[tenant] = m
	}
	return m
}

// observe records shown, the highest version the table showed for the
// tenant in a read that started when the highest seen was before (see
// highest), and fails with an Error of kind ErrKeyNotFound if the table showed less
// than before. A version noted while the read ran (a rotation committed
// meanwhile) may be missing from it without any row having gone.
func (vm *versionMarks) observe(tenant string, shown, before uint32) error {
	if shown < before {
		return &Error{Kind: ErrKeyNotFound, Tenant: tenant, Highest: before, Shown: shown}
	}
	vm.note(tenant, shown)
	return nil
}

// note records that the table holds the tenant's version.
func (vm *versionMarks) note(tenant string, version uint32) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	m := vm.markLocked(tenant)
	m.highest = max(m.highest, version)
}

// highest returns the highest version seen for the tenant, 0 if none.
func (vm *versionMarks) highest(tenant string) uint32 {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if m := vm.m[tenant]; m != nil {
		return m.highest
	}
	return 0
}

// destroy records that this process destroyed the tenant's version.
func (vm *versionMarks) destroy(tenant string, version uint32) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	m := vm.markLocked(tenant)
	if i := m.find(version); i >= 0 {
		m.keys[i].destroyed = true
	} else {
		m.keys = append(m.keys, versionKey{version: version, destroyed: true})
	}
	m.highest = max(m.highest, version)
}

// isDestroyed reports whether this process destroyed the version.
func (vm *versionMarks) isDestroyed(tenant string, version uint32) bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	m := vm.m[tenant]
	if m == nil {
		return false
	}
	i := m.find(version)
	return i >= 0 && m.keys[i].destroyed
}

// missing returns the error for a version the table does not hold: a
// an Error of kind ErrKeyNotFound if this process saw the tenant's versions reach it,
// else ErrKeyNotFound.
func (s *Store) missing(tenant string, version uint32) error {
	if h := s.marks.highest(tenant); version <= h {
		return &Error{Kind: ErrKeyNotFound, Tenant: tenant, Version: version, Highest: h}
	}
	return fmt.Errorf("%w: tenant %q version %d", ErrKeyNotFound, tenant, version)
}
