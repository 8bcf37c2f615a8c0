package cipher

import (
	"bytes"
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/namehash"
	"github.com/colcrypt/colcrypt/internal/secret"
)

// Cipher seals and opens the values of one Scope under one version of the
// tenant's data key. It holds the derived subkeys and their ready AEADs, so
// sealing a value costs no key schedule. A Cipher is safe for concurrent
// use; its observable behaviour never changes after NewCipher, until
// Destroy.
//
// # Memory
//
// A key store keeps one Cipher per (tenant, column, key version) warm,
// so its size is what a cached tenant costs. A Cipher builds only the
// AES-256-GCM state, which every column needs: one AEAD for seal and open
// alike, with the nonce drawn from crypto/rand by Seal. The AES-SIV and
// blind-index subkeys, which only deterministic and indexed columns use,
// are derived from the data key, and their state built, on the first
// SealDeterministic, deterministic open or BlindIndex (under a lock that
// is itself made on first use, once; read lock-free after). A randomized
// column's Cipher thus holds no subkey bytes of its own, no AES-SIV or
// HMAC object, no lock, and no clean-up record for the garbage
// collector. Its scope is kept once, as the associated data every GCM
// value is sealed with, not a second time as three strings (see Scope).
//
// To derive on first use, a Cipher keeps a reference to the data key it
// came from, a [secret.Shared] that the key's owner clears (see
// NewCipherShared). That gives a holder of the Cipher nothing it could
// not do already: the Cipher's AES-256 key schedule opens and forges
// every value of its column. It does keep the data key in memory while
// the Cipher is reachable: a key store that evicts a key whose Ciphers a
// caller still holds leaves its bytes to be zeroed when the last of
// them is collected (secret.Shared).
//
// A Cipher holds key material: it prints as [redacted] under every fmt
// verb, in JSON and in log/slog, by pointer and by value.
//
// # Destroy
//
// Destroy zeroes the subkey bytes the Cipher holds (the blind-index
// subkey, once derived), and the data key if the Cipher owns it (made by
// NewCipher), and makes every later call fail with [ErrCipherDestroyed].
// A Cipher that is never destroyed has the same bytes zeroed when the
// garbage collector finds it unreachable. What neither can reach is the
// key material that the standard library derives and keeps inside its
// own types: the AES-256 key schedule of the GCM subkey (crypto/aes), the
// AES-256 key schedules of the two halves of the SIV subkey (crypto/aes),
// and the inner and outer HMAC pads of the blind-index subkey
// (crypto/hmac), the last two only if they were built. Destroy drops its
// references to them, so the garbage collector reclaims them, without
// zeroing them. It drops the CMAC subkeys and S2V states siv.go derives
// from the SIV key schedule the same way, unzeroed: the schedule they
// come from starts with the key itself and stays out of reach, so zeroing
// them would buy nothing and would cost the deterministic paths a lock.
type Cipher struct {
	version uint32
	hdrLen  uint8 // the GCM header's length: a prefix of gcmAAD
	// ownsDEK is set by NewCipher, whose Cipher alone holds its copy of
	// the data key and so clears it on Destroy.
	ownsDEK bool
	// tag is ColumnTag of the scope's table and column, in what would
	// otherwise be padding.
	tag uint16
	// gcmAAD is the GCM header ‖ the canonical scope. It is also where
	// the Cipher's scope is kept: 48 bytes of string headers less in a
	// struct a key store keeps per (tenant, column, version).
	gcmAAD []byte

	// dek is the data key the SIV and blind-index subkeys are derived
	// from on first use. It is a secret.Shared, whose bytes sit two
	// pointers away: a Cipher copied by value and formatted field by
	// field prints it as an address.
	dek *secret.Shared
	k   *cipherKeys
}

// cipherKeys is everything in a Cipher that depends on key material, kept
// one pointer away and with no key bytes in a field of its own. fmt
// formats a Cipher that was copied by value (reflection, or a vet warning
// ignored) field by field, bypassing Format; a pointer it cannot format
// under the verb (%s, %q) it expands one level with %v, which prints the
// pointers inside as addresses. So no verb reaches a key schedule.
type cipherKeys struct {
	// destroyed is set first by destroy. The GCM and SIV paths only load
	// it: they read no byte that destroy clears (the GCM and SIV subkeys
	// live only in AES key schedules and what siv.go derived from them,
	// which destroy drops rather than clears), so they take no lock.
	destroyed atomic.Bool
	// gcm is AES-256-GCM with an explicit nonce, for Seal (which draws
	// the nonce), SealNonces and every open: one AEAD, one key schedule
	// and one GHASH table per Cipher.
	gcm stdcipher.AEAD
	// lazy is nil until the first deterministic seal or open or blind
	// index: a randomized column's Cipher never needs its lock, and
	// without it cipherKeys is 32 bytes, not 64.
	lazy atomic.Pointer[lazyKeys]
}

// lazyKeys is the state a Cipher builds on first use, and its lock.
type lazyKeys struct {
	// mu is held for reading while the blind-index subkey bytes are in
	// use, and for writing while destroy clears them and while the SIV
	// and blind-index state is built, so that no index is ever taken
	// under a half-cleared key and no state is built after destroy.
	mu sync.RWMutex
	// siv and bidx are nil until first use, and again after destroy.
	siv  atomic.Pointer[sivState]
	bidx atomic.Pointer[bidxState]
}

// lazyKeys returns k's lazily built state and its lock, making them on
// first use. Whoever builds state in it checks destroyed after this
// returns, under its lock: destroy sets destroyed before it loads lazy,
// so either it finds this lazyKeys and waits on its lock, or the
// builder finds destroyed set (the atomics are sequentially consistent).
func (k *cipherKeys) lazyKeys() *lazyKeys {
	if l := k.lazy.Load(); l != nil {
		return l
	}
	k.lazy.CompareAndSwap(nil, new(lazyKeys))
	return k.lazy.Load()
}

// loadSIV returns the AES-SIV state if it was built, else nil.
func (k *cipherKeys) loadSIV() *sivState {
	if l := k.lazy.Load(); l != nil {
		return l.siv.Load()
	}
	return nil
}

// loadBidx returns the blind-index state if it was built, else nil.
func (k *cipherKeys) loadBidx() *bidxState {
	if l := k.lazy.Load(); l != nil {
		return l.bidx.Load()
	}
	return nil
}

// sivState is a Cipher's deterministic mode: AES-SIV keyed once (siv.go)
// and S2V's state after the Cipher's associated data, so that a seal
// hashes only the plaintext.
type sivState struct {
	key *sivKey
	d   [sivBlock]byte // S2V's D after aad
	aad []byte         // SIV header ‖ canonical scope
	hdr []byte         // a prefix of aad
}

// bidxState hands out HMAC-SHA256 hashes keyed with the blind-index
// subkey, which it holds (destroy clears it).
type bidxState struct {
	key  *secret.Bytes
	pool sync.Pool
}

const (
	sivKeyLen  = 64 // AEAD_AES_SIV_CMAC_512: two AES-256 keys
	bidxKeyLen = 32
)

// ErrCipherDestroyed is returned by every method of a Cipher that seals,
// opens or indexes after Destroy: the key it was derived from was
// destroyed (shredded, or its store closed). It is not ErrAuth: the value
// may be intact.
var ErrCipherDestroyed = errors.New("codec: cipher destroyed")

// NewCipher derives the subkeys of scope from a tenant's data key of the
// given version. dek must be DEKSize bytes; NewCipher keeps a copy of it,
// which Destroy clears, and no reference to dek itself.
func NewCipher(dek []byte, version uint32, scope codec.Scope) (*Cipher, error) {
	if len(dek) != DEKSize {
		return nil, fmt.Errorf("codec: data key must be %d bytes, got %d", DEKSize, len(dek))
	}
	c, err := NewCipherShared(secret.NewShared(bytes.Clone(dek)), version, scope)
	if err != nil {
		return nil, err
	}
	c.ownsDEK = true
	return c, nil
}

// NewCipherShared is NewCipher for a data key that its owner shares with
// the Ciphers derived from it: the Cipher keeps a reference to dek, to
// derive its SIV and blind-index subkeys on first use, and never clears
// it. Once the owner clears dek, a Cipher that has not built that state
// fails to build it, with ErrCipherDestroyed; an owner that clears its
// key destroys its Ciphers first.
func NewCipherShared(dek *secret.Shared, version uint32, scope codec.Scope) (*Cipher, error) {
	if version == 0 {
		return nil, errors.New("codec: key version must be at least 1")
	}
	var gcm stdcipher.AEAD
	err := ErrCipherDestroyed
	dek.Use(func(key []byte) {
		if key == nil {
			return
		}
		if len(key) != DEKSize {
			err = fmt.Errorf("codec: data key must be %d bytes, got %d", DEKSize, len(key))
			return
		}
		gcm, err = newGCM(key, scope)
	})
	if err != nil {
		return nil, err
	}
	// The AAD is header ‖ canonical scope, in a buffer of its exact
	// size; the header is its prefix, which Seal copies.
	h := headerLen(version)
	aad := make([]byte, 0, h+scopeLen(scope))
	aad = appendScope(appendHeader(aad, codec.AESGCM, version), scope)
	return &Cipher{
		version: version,
		tag:     ColumnTag(scope.Table, scope.Column),
		hdrLen:  uint8(h),
		gcmAAD:  aad,
		dek:     dek,
		k:       &cipherKeys{gcm: gcm},
	}, nil
}

// newGCM derives scope's GCM subkey from dek and returns its AEAD.
func newGCM(dek []byte, scope codec.Scope) (stdcipher.AEAD, error) {
	gcmKey, err := deriveSubkey(dek, labelGCM, scope.Table, scope.Column, 32)
	if err != nil {
		return nil, fmt.Errorf("codec: derive: %w", err)
	}
	defer clear(gcmKey)
	block, err := aes.NewCipher(gcmKey)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	gcm, err := stdcipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	return gcm, nil
}

// deriveLazy derives one of the subkeys built on first use, or fails
// with ErrCipherDestroyed if the data key was cleared. The caller holds
// the lazyKeys lock for writing.
func (c *Cipher) deriveLazy(label string, size int) ([]byte, error) {
	var sub []byte
	err := ErrCipherDestroyed
	s := c.Scope()
	c.dek.Use(func(dek []byte) {
		if dek != nil {
			sub, err = deriveSubkey(dek, label, s.Table, s.Column, size)
		}
	})
	if err != nil && !errors.Is(err, ErrCipherDestroyed) {
		return nil, fmt.Errorf("codec: derive: %w", err)
	}
	return sub, err
}

// sivState returns the Cipher's AES-SIV state, building it on first use.
// Callers hold no lock; they take the read lock to use it.
func (c *Cipher) sivState() (*sivState, error) {
	if s := c.k.loadSIV(); s != nil {
		return s, nil
	}
	l := c.k.lazyKeys()
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	if s := l.siv.Load(); s != nil {
		return s, nil
	}
	sub, err := c.deriveLazy(labelSIV, sivKeyLen)
	if err != nil {
		return nil, err
	}
	key, err := newSIVKey(sub)
	clear(sub)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	s := &sivState{key: key}
	h := int(c.hdrLen)
	s.aad = append(appendHeader(make([]byte, 0, len(c.gcmAAD)), codec.AESSIV, c.version), c.gcmAAD[h:]...)
	s.hdr = s.aad[:h:h]
	key.adState(s.d[:], s.aad)
	l.siv.Store(s)
	return s, nil
}

// bidxState returns the Cipher's blind-index state, building it on first
// use, and the lock that guards its subkey. Its pool makes hashes from
// the subkey bytes, so callers take the read lock around Get.
func (c *Cipher) bidxState() (*bidxState, *lazyKeys, error) {
	l := c.k.lazyKeys()
	if b := l.bidx.Load(); b != nil {
		return b, l, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := c.k
	if k.destroyed.Load() {
		return nil, nil, ErrCipherDestroyed
	}
	if b := l.bidx.Load(); b != nil {
		return b, l, nil
	}
	sub, err := c.deriveLazy(labelBidx, bidxKeyLen)
	if err != nil {
		return nil, nil, err
	}
	b := &bidxState{key: secret.New(sub)}
	b.pool.New = func() any { return hmac.New(sha256.New, b.key.Bytes()) }
	l.bidx.Store(b)
	// The subkey is zeroed by Destroy or, if the Cipher is dropped
	// without it, when the garbage collector finds it: destroy takes the
	// lock that BlindIndex holds while it reads the subkey. Only an
	// indexed column pays for the clean-up record.
	runtime.AddCleanup(c, (*cipherKeys).destroy, k)
	return b, l, nil
}

// Version returns the key version the Cipher seals under.
func (c *Cipher) Version() uint32 { return c.version }

// Scope returns the scope the Cipher is bound to, read back from its
// associated data: three strings allocated per call. A caller that only
// compares uses IsColumn, which allocates nothing.
func (c *Cipher) Scope() codec.Scope {
	b := c.gcmAAD[c.hdrLen:]
	var parts [3]string
	for i := range parts {
		// NewCipherShared wrote the encoding; it always parses.
		n, w := binary.Uvarint(b)
		parts[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	return codec.Scope{Tenant: parts[0], Table: parts[1], Column: parts[2]}
}

// Tag returns ColumnTag of the Cipher's table and column: a caller that
// looks for a column among ciphers compares tags first, which costs no
// load beyond the Cipher itself, and calls IsColumn on a match only.
func (c *Cipher) Tag() uint16 { return c.tag }

// ColumnTag returns a 16-bit digest of table and column, every byte of
// both: a filter before IsColumn, not an identity. Its constants are
// fixed: names that collide cost a caller one IsColumn more, no more.
func ColumnTag(table, column string) uint16 {
	const k0, k1 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	h := namehash.Words(table, k0, k0, k0) ^ namehash.Words(column, k1, k1, k1)
	return uint16(h ^ h>>16 ^ h>>32 ^ h>>48)
}

// IsColumn reports whether the Cipher's scope is of table and column,
// whatever its tenant, without allocating: what a tenant's key asks of
// the ciphers it derived, on every warm seal. It compares with the
// associated data, whose canonical encoding has one form per scope.
// Names shorter than 128 bytes, whose length prefixes are one byte each,
// take a path that checks the encoding's length and prefixes first and
// then compares the names, column first.
func (c *Cipher) IsColumn(table, column string) bool {
	b := c.gcmAAD[c.hdrLen:]
	// Skip the tenant: a one-byte length below 128, the usual case, or
	// a longer uvarint.
	if b[0] < 0x80 {
		b = b[1+int(b[0]):]
	} else {
		n, w := binary.Uvarint(b)
		b = b[w+int(n):]
	}
	if lb, lc := len(table), len(column); lb|lc < 0x80 {
		return len(b) == 2+lb+lc && b[0] == byte(lb) && b[1+lb] == byte(lc) &&
			string(b[2+lb:]) == column && string(b[1:1+lb]) == table
	}
	return isColumn(b, table, column)
}

// isColumn reports whether b, a canonical scope after its tenant, is
// table then column.
func isColumn(b []byte, table, column string) bool {
	b, ok := matchLP(b, table)
	if !ok {
		return false
	}
	b, ok = matchLP(b, column)
	return ok && len(b) == 0
}

// matchLP reports whether b starts with s length-prefixed, and returns
// what follows.
func matchLP(b []byte, s string) ([]byte, bool) {
	n := len(s)
	w := 1
	if n < 0x80 {
		if len(b) == 0 || b[0] != byte(n) {
			return nil, false
		}
	} else {
		var v uint64
		if v, w = binary.Uvarint(b); w <= 0 || v != uint64(n) {
			return nil, false
		}
	}
	if len(b)-w < n || string(b[w:w+n]) != s {
		return nil, false
	}
	return b[w+n:], true
}

// Seal encrypts plaintext with randomized AES-256-GCM and appends the
// stored value to dst. With dst nil it allocates exactly once.
func (c *Cipher) Seal(dst, plaintext []byte) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	return c.sealGCM(dst, plaintext, c.gcmAAD), nil
}

// sealGCM appends header ‖ nonce ‖ AES-GCM(plaintext, aad) to dst, with a
// fresh random nonce read straight into dst: what the random-nonce AEAD
// of crypto/cipher does (the same generator, crypto/rand's), on the one
// AEAD that also opens.
func (c *Cipher) sealGCM(dst, plaintext, aad []byte) []byte {
	dst = slices.Grow(dst, int(c.hdrLen)+nonceSize+len(plaintext)+tagSize)
	dst = append(dst, c.gcmAAD[:c.hdrLen]...)
	n := len(dst)
	dst = dst[:n+nonceSize]
	nonce := dst[n:]
	// crypto/rand.Read never fails: it crashes the program rather than
	// return short, so no value is ever sealed under a nonce not drawn.
	rand.Read(nonce)
	return c.k.gcm.Seal(dst, nonce, plaintext, aad)
}

// SealDeterministic encrypts plaintext with AES-SIV: the same plaintext in
// the same scope and key version always gives the same value.
func (c *Cipher) SealDeterministic(dst, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, errors.New("codec: plaintext too large")
	}
	s, err := c.sivState()
	if err != nil {
		return nil, err
	}
	return c.sealSIV(dst, plaintext, s, nil)
}

// sealSIV appends the SIV header and AES-SIV(plaintext, aad) to dst, the
// aad being the Cipher's own (its S2V state precomputed) or, for a bound
// value, the pooled row aad. With dst nil it allocates once.
func (c *Cipher) sealSIV(dst, plaintext []byte, s *sivState, row *[]byte) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	d := c.sivD(s, row)
	dst = slices.Grow(dst, len(s.hdr)+sivBlock+len(plaintext)+sivBlock)
	dst = append(dst, s.hdr...)
	dst = s.key.seal(dst, plaintext, d)
	if row != nil {
		clear(d) // the row's S2V state goes back to the pool with the buffer
	}
	return dst, nil
}

// openSIV is sealSIV's inverse; every failure but destruction is ErrAuth.
func (c *Cipher) openSIV(dst, ciphertext []byte, s *sivState, row *[]byte) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	d := c.sivD(s, row)
	out, ok := s.key.open(dst, ciphertext, d)
	if row != nil {
		clear(d) // the row's S2V state goes back to the pool with the buffer
	}
	if !ok {
		return nil, codec.ErrAuth
	}
	return out, nil
}

// sivD returns S2V's state after the associated data: the Cipher's own,
// precomputed, or for a bound value (row not nil) the state after the
// pooled row aad, computed into 16 bytes appended to that buffer.
func (c *Cipher) sivD(s *sivState, row *[]byte) []byte {
	if row == nil {
		return s.d[:]
	}
	n := len(*row)
	*row = append(*row, zeroBlock[:]...)
	d := (*row)[n : n+sivBlock : n+sivBlock]
	s.key.adState(d, (*row)[:n])
	return d
}

// zeroBlock is what sivD appends to make room for a row's S2V state.
var zeroBlock [sivBlock]byte

// Open authenticates and decrypts a value sealed by Seal or
// SealDeterministic for this scope and key version, appending the
// plaintext to dst. Every failure is ErrAuth, except ErrCipherDestroyed
// after Destroy.
func (c *Cipher) Open(dst, value []byte) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	// A GCM value under this version starts with exactly the Cipher's GCM
	// header (a header's version is a canonical varint, so one version
	// has one header): it opens without the general parse, which is a
	// fair part of what a small value costs beyond the AES-GCM itself.
	if h := int(c.hdrLen); len(value) >= h+nonceSize+tagSize && len(value) <= codec.MaxValueSize &&
		string(value[:h]) == string(c.gcmAAD[:h]) {
		out, err := c.k.gcm.Open(dst, value[h:h+nonceSize:h+nonceSize], value[h+nonceSize:], c.gcmAAD)
		if err != nil {
			return nil, codec.ErrAuth
		}
		return out, nil
	}
	// Likewise a deterministic value under this version, once the
	// Cipher has its AES-SIV state.
	if s := c.k.loadSIV(); s != nil && len(value) >= len(s.hdr)+sivSize && len(value) <= codec.MaxValueSize &&
		string(value[:len(s.hdr)]) == string(s.hdr) {
		return c.openSIV(dst, value[len(s.hdr):], s, nil)
	}
	v, err := codec.Parse(value)
	if err != nil {
		return nil, codec.ErrAuth
	}
	return c.OpenValue(dst, v)
}

// OpenValue is Open for a value already split by Parse, for callers that
// parse first to find the key version and should not parse twice. Every
// failure is ErrAuth, except ErrCipherDestroyed after Destroy.
func (c *Cipher) OpenValue(dst []byte, v codec.Value) ([]byte, error) {
	if c.k.destroyed.Load() {
		return nil, ErrCipherDestroyed
	}
	if v.KeyVersion != c.version {
		return nil, codec.ErrAuth
	}
	// The AAD is always this Cipher's own header ‖ scope, never bytes taken
	// from v: a header that parsed to this algorithm and version has
	// exactly those bytes, and one that did not cannot authenticate.
	switch v.Algorithm {
	case codec.AESGCM:
		if len(v.Nonce) != nonceSize {
			return nil, codec.ErrAuth
		}
		out, err := c.k.gcm.Open(dst, v.Nonce, v.Ciphertext, c.gcmAAD)
		if err != nil {
			return nil, codec.ErrAuth
		}
		return out, nil
	case codec.AESSIV:
		s, err := c.sivState()
		if err != nil {
			return nil, err
		}
		return c.openSIV(dst, v.Ciphertext, s, nil)
	}
	return nil, codec.ErrAuth
}

// Destroy zeroes the subkey bytes the Cipher holds, and its data key if
// it owns it (NewCipher), and drops its AEADs and hashes; from then on
// every method that seals, opens or indexes returns ErrCipherDestroyed. It waits for deterministic seals and opens and
// blind indexes in flight, so none of them reads a half-cleared key. It
// is idempotent and safe to call concurrently with any other method. See
// the Cipher's doc for what the standard library keeps out of its reach.
func (c *Cipher) Destroy() {
	c.k.destroy()
	if c.ownsDEK {
		c.dek.Clear()
	}
}

// Destroyed reports whether Destroy was called.
func (c *Cipher) Destroyed() bool { return c.k.destroyed.Load() }

func (k *cipherKeys) destroy() {
	if k.destroyed.Swap(true) {
		return
	}
	l := k.lazy.Load()
	if l == nil {
		return // nothing built, and nothing will be: see lazyKeys
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.siv.Store(nil)
	// Empty the pool so its hashes, whose pads are derived from the
	// blind-index subkey, become garbage now rather than at the
	// pool's next clean-up; nothing refills it (BlindIndex checks
	// destroyed under the read lock).
	if b := l.bidx.Swap(nil); b != nil {
		b.key.Clear()
		b.pool.New = nil
		for b.pool.Get() != nil {
		}
	}
}

// String, GoString, Format, MarshalJSON and LogValue keep key material out
// of every fmt verb, JSON and log/slog. Their receivers are values, so a
// Cipher copied by value redacts too.
func (Cipher) String() string   { return "[redacted]" }
func (Cipher) GoString() string { return "[redacted]" }

// Format implements fmt.Formatter so %x, %v, %+v and %#v all redact.
func (Cipher) Format(f fmt.State, verb rune) { f.Write([]byte("[redacted]")) }

// MarshalJSON redacts the Cipher in JSON.
func (Cipher) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// LogValue redacts the Cipher in log/slog.
func (Cipher) LogValue() slog.Value { return slog.StringValue("[redacted]") }

var (
	_ fmt.Formatter  = Cipher{}
	_ slog.LogValuer = Cipher{}
)
