package kmstest_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/kmstest"
)

// refDriver is a minimal correct driver (nonce ‖ AES-GCM) that can be
// given one flaw, to show that the suite catches it.
type refDriver struct {
	aead cipher.AEAD
	flaw string

	mu    sync.Mutex
	cache map[string][]byte
}

// aad is the associated data the driver binds for wc.
func (d *refDriver) aad(wc kms.WrapContext) []byte {
	switch d.flaw {
	case "ignoresWrapContext":
		return nil
	case "ambiguousEncoding":
		// Fields run together: "colcrypt/dek/v1" + "tenant-a" equals
		// "colcrypt/dek/v1t" + "enant-a".
		return fmt.Appendf(nil, "%s%s/%d", wc.Purpose, wc.Tenant, wc.Version)
	}
	return wc.AAD()
}

func (d *refDriver) Wrap(ctx context.Context, pt []byte, wc kms.WrapContext) ([]byte, error) {
	if err := ctx.Err(); err != nil && d.flaw != "ignoresContext" {
		return nil, err
	}
	if len(pt) == 0 && d.flaw != "acceptsEmpty" {
		return nil, errors.New("empty plaintext")
	}
	aad := d.aad(wc)
	nonce := make([]byte, 12)
	if d.flaw != "deterministic" {
		rand.Read(nonce)
	}
	return d.aead.Seal(nonce, nonce, pt, aad), nil
}

func (d *refDriver) Unwrap(ctx context.Context, ct []byte, wc kms.WrapContext) ([]byte, error) {
	if err := ctx.Err(); err != nil && d.flaw != "ignoresContext" {
		return nil, err
	}
	aad := d.aad(wc)
	if len(ct) < 12 {
		if d.flaw == "plainErrors" {
			return nil, errors.New("short ciphertext")
		}
		return nil, kms.ErrUnwrap
	}
	if d.flaw == "aliases" {
		// Memoizes results and hands out the cached slice itself.
		d.mu.Lock()
		defer d.mu.Unlock()
		if pt, ok := d.cache[string(ct)+"\x00"+string(aad)]; ok {
			return pt, nil
		}
	}
	pt, err := d.aead.Open(nil, ct[:12], ct[12:], aad)
	switch {
	case err == nil:
		if d.flaw == "aliases" {
			d.cache[string(ct)+"\x00"+string(aad)] = pt
		}
		return pt, nil
	case d.flaw == "plainErrors":
		return nil, err
	case d.flaw == "leaksPlaintext":
		// Decrypts without authentication and quotes the result.
		stream := cipher.NewCTR(d.block(), append(bytes.Clone(ct[:12]), 0, 0, 0, 2))
		leak := make([]byte, len(ct)-12-16)
		stream.XORKeyStream(leak, ct[12:len(ct)-16])
		return nil, fmt.Errorf("%w: got %x", kms.ErrUnwrap, leak)
	}
	return nil, kms.ErrUnwrap
}

func (d *refDriver) block() cipher.Block { b, _ := aes.NewCipher(refKeys[0]); return b }

func (d *refDriver) Close() error { return nil }

var refKeys = [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}

type refHarness struct{ flaw string }

func (h refHarness) make(key []byte) (kms.Driver, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(b)
	return &refDriver{aead: aead, flaw: h.flaw, cache: map[string][]byte{}}, err
}

func (h refHarness) MakeDriver(context.Context) (kms.Driver, error)      { return h.make(refKeys[0]) }
func (h refHarness) MakeOtherDriver(context.Context) (kms.Driver, error) { return h.make(refKeys[1]) }
func (h refHarness) Close()                                              {}

const flawEnv = "COLCRYPT_KMSTEST_FLAW"

// TestFlawedDriverHelper runs the suite on a reference driver with the flaw
// named by COLCRYPT_KMSTEST_FLAW. It is run in a subprocess by
// TestSuiteCatchesFlaws, because a failing suite fails its *testing.T.
func TestFlawedDriverHelper(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesFlaws")
	}
	kmstest.RunConformanceTests(t, func(context.Context, *testing.T) (kmstest.Harness, error) {
		return refHarness{flaw: flaw}, nil
	})
}

// TestSuiteCatchesFlaws checks that the suite passes a correct driver and
// fails each flawed one in the case meant to catch it.
func TestSuiteCatchesFlaws(t *testing.T) {
	tests := []struct {
		flaw     string
		failCase string // "" for the correct driver
	}{
		{"none", ""},
		{"ignoresWrapContext", "WrongContext"},
		{"ambiguousEncoding", "WrongContext"},
		{"deterministic", "WrapIsRandomized"},
		{"plainErrors", "Tamper"},
		{"leaksPlaintext", "ErrorsHoldNoPlaintext"},
		{"ignoresContext", "Context"},
		{"acceptsEmpty", "EmptyPlaintext"},
		{"aliases", "Buffers"},
	}
	for _, tt := range tests {
		t.Run(tt.flaw, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawedDriverHelper$", "-test.v")
			cmd.Env = append(os.Environ(), flawEnv+"="+tt.flaw)
			out, err := cmd.CombinedOutput()
			if tt.failCase == "" {
				if err != nil {
					t.Fatalf("suite on a correct driver failed: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("suite on a driver that %s passed, want a failure in %s", tt.flaw, tt.failCase)
			}
			if want := "--- FAIL: TestFlawedDriverHelper/" + tt.failCase + " "; !strings.Contains(string(out), want) {
				t.Fatalf("suite on a driver that %s: output lacks %q:\n%s", tt.flaw, want, out)
			}
		})
	}
}
