package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/colcrypt/colcrypt/internal/kmserr"
	"github.com/colcrypt/colcrypt/kms"
)

// insecureTestKMS is a kms.Driver for these tests only: an AES-256-GCM
// master key held in memory, call counters, and fault injection. It is
// INSECURE by design (the master key sits in process memory) and stands in
// until kms/localkms and the fake Cloud KMS server land.
type insecureTestKMS struct {
	aead cipher.AEAD

	wraps, unwraps atomic.Int64

	mu     sync.Mutex
	faults []error       // returned by the next calls, in order
	down   error         // returned by every call while non-nil
	gate   chan struct{} // while non-nil, Unwrap waits for it to close
	onWrap func()        // called inside each Wrap, before it returns
	tamper bool          // Unwrap flips a bit of what it returns
}

var _ kms.Driver = (*insecureTestKMS)(nil)

func newInsecureTestKMS(t testing.TB) *insecureTestKMS {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &insecureTestKMS{aead: aead}
}

// keeper returns a keeper named uri over the driver.
func (d *insecureTestKMS) keeper(uri string) *kms.Keeper { return kms.NewKeeper(uri, d) }

var (
	errTestUnavailable = errors.New("test kms: unavailable")
	errTestDenied      = errors.New("test kms: permission denied")
)

// retryable returns a fresh retryable error as a driver would.
func retryable() error { return kmserr.Retryable(errTestUnavailable) }

func (d *insecureTestKMS) failNext(errs ...error) {
	d.mu.Lock()
	d.faults = append(d.faults, errs...)
	d.mu.Unlock()
}

func (d *insecureTestKMS) setDown(err error) {
	d.mu.Lock()
	d.down = err
	d.mu.Unlock()
}

func (d *insecureTestKMS) setGate(g chan struct{}) {
	d.mu.Lock()
	d.gate = g
	d.mu.Unlock()
}

func (d *insecureTestKMS) setOnWrap(f func()) {
	d.mu.Lock()
	d.onWrap = f
	d.mu.Unlock()
}

func (d *insecureTestKMS) setTamper(on bool) {
	d.mu.Lock()
	d.tamper = on
	d.mu.Unlock()
}

// fault returns the injected error for the next call, if any.
func (d *insecureTestKMS) fault() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down != nil {
		return d.down
	}
	if len(d.faults) > 0 {
		err := d.faults[0]
		d.faults = d.faults[1:]
		return err
	}
	return nil
}

func (d *insecureTestKMS) Wrap(ctx context.Context, plaintext []byte, wc kms.WrapContext) ([]byte, error) {
	d.wraps.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.fault(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	hook := d.onWrap
	d.mu.Unlock()
	if hook != nil {
		hook()
	}
	nonce := make([]byte, d.aead.NonceSize())
	rand.Read(nonce)
	return d.aead.Seal(nonce, nonce, plaintext, wc.AAD()), nil
}

func (d *insecureTestKMS) Unwrap(ctx context.Context, ciphertext []byte, wc kms.WrapContext) ([]byte, error) {
	d.unwraps.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.fault(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	gate, tamper := d.gate, d.tamper
	d.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	n := d.aead.NonceSize()
	if len(ciphertext) < n+d.aead.Overhead() {
		return nil, kms.ErrUnwrap
	}
	out, err := d.aead.Open(nil, ciphertext[:n], ciphertext[n:], wc.AAD())
	if err != nil {
		return nil, kms.ErrUnwrap
	}
	if tamper {
		out[0] ^= 1
	}
	return out, nil
}

func (d *insecureTestKMS) Close() error { return nil }
