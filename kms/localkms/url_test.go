package localkms

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
)

func writeKeys(t *testing.T, ids ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master keys")
	for _, id := range ids {
		if err := GenerateKeyFile(path, id); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestOpenURL(t *testing.T) {
	one := writeKeys(t, "k1")
	two := writeKeys(t, "k1", "k2")
	t.Setenv("COLCRYPT_TEST_KEYS", "k1:"+b64(key1)+" , k2:"+b64(key2))
	t.Setenv("COLCRYPT_TEST_ONE_KEY", "# a comment line\nonly:"+b64(key1)+"\n")
	esc := func(p string) string { return strings.ReplaceAll(p, " ", "%20") }
	tests := []struct {
		url, wantURI string
	}{
		{"local://" + esc(one) + "?id=k1", "local://" + esc(one) + "?id=k1"},
		{"local://" + esc(one), "local://" + esc(one) + "?id=k1"},
		{"local://" + esc(two) + "?id=k2", "local://" + esc(two) + "?id=k2"},
		{"local://?env=COLCRYPT_TEST_KEYS&id=k2", "local://?env=COLCRYPT_TEST_KEYS&id=k2"},
		{"local://?id=k1&env=COLCRYPT_TEST_KEYS", "local://?env=COLCRYPT_TEST_KEYS&id=k1"},
		{"local://?env=COLCRYPT_TEST_ONE_KEY", "local://?env=COLCRYPT_TEST_ONE_KEY&id=only"},
	}
	ctx := t.Context()
	for _, tt := range tests {
		k, err := kms.Open(ctx, tt.url)
		if err != nil {
			t.Errorf("kms.Open(%q) err = %v", tt.url, err)
			continue
		}
		if k.URI() != tt.wantURI {
			t.Errorf("kms.Open(%q).URI() = %q, want %q", tt.url, k.URI(), tt.wantURI)
		}
		if got, err := kms.Name(k.URI()); err != nil || got != k.URI() {
			t.Errorf("kms.Name(%q) = %q, %v; want it unchanged (canonical)", k.URI(), got, err)
		}
		// The canonical URI opens the same key.
		blob, err := k.Wrap(ctx, key2, testWC)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := kms.Open(ctx, k.URI())
		if err != nil {
			t.Fatalf("kms.Open(canonical %q) err = %v", k.URI(), err)
		}
		if got, err := k2.Unwrap(ctx, blob, testWC); err != nil || !bytes.Equal(got, key2) {
			t.Errorf("Unwrap through canonical URI %q err = %v, want the plaintext", k.URI(), err)
		}
		k.Close()
		k2.Close()
	}
}

// TestName: kms.Name reads a local:// URL without touching the file or
// the variable it names.
func TestName(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"local:///no/such/file?id=k1", "local:///no/such/file?id=k1"},
		{"local://?id=k2&env=NO_SUCH_VARIABLE", "local://?env=NO_SUCH_VARIABLE&id=k2"},
		{"local:///no/such/file", "local:///no/such/file"},
	} {
		if got, err := kms.Name(tt.url); err != nil || got != tt.want {
			t.Errorf("kms.Name(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	for _, bad := range []string{"local://relative/path?id=k1", "local:///p?id=k1&endpoint=x", "local:///p?env=X", "local://?id=k1"} {
		if got, err := kms.Name(bad); err == nil || errors.Is(err, kms.ErrUnknownScheme) {
			t.Errorf("kms.Name(%q) = %q, %v; want an invalid-name error", bad, got, err)
		}
	}
}

func TestOpenURLErrors(t *testing.T) {
	two := writeKeys(t, "k1", "k2")
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("k1:"+b64(key1[:20])+"\n"), 0o600)
	t.Setenv("COLCRYPT_TEST_EMPTY", "")
	t.Setenv("COLCRYPT_TEST_BAD", "k1:"+b64(key1[:20]))
	tests := []struct {
		url, want string
	}{
		{"local://" + two, "2 keys (k1, k2): choose one"},
		{"local://" + two + "?id=k3", `no key with id "k3"`},
		{"local://" + two + "?id=k1&id=k2", `"id" given 2 times`},
		{"local://" + two + "?id=a/b", "invalid id"},
		{"local://" + two + "?key=" + b64(key1), `unknown URL parameter "key"`},
		{"local://relative/keys?id=k1", "must be absolute"},
		{"local:relative?id=k1", "malformed URL"},
		{"local://" + two + "#frag", "malformed URL"},
		{"local://", "no key file path or env"},
		{"local://" + two + "?env=X", "not both"},
		{"local://?env=COLCRYPT_TEST_UNSET_XYZ", "COLCRYPT_TEST_UNSET_XYZ is not set"},
		{"local://?env=COLCRYPT_TEST_EMPTY", "is not set"},
		{"local://?env=A-B", "invalid environment variable name"},
		{"local://?env=COLCRYPT_TEST_BAD", "is 20 bytes, want 32 (in $COLCRYPT_TEST_BAD)"},
		{"local://" + bad + "?id=k1", "(in " + bad + ")"},
		{"local://" + filepath.Join(t.TempDir(), "missing"), "no such file"},
	}
	for _, tt := range tests {
		_, err := kms.Open(t.Context(), tt.url)
		if err == nil || !strings.HasPrefix(err.Error(), "kms: open local: localkms: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("kms.Open(%q) err = %v, want one containing %q", tt.url, err, tt.want)
			continue
		}
		assertNoKeyMaterial(t, err.Error(), nil, key1, key2)
	}
}

func TestClosedDriver(t *testing.T) {
	ks, _ := newKeyset(map[string][]byte{"k1": key1})
	d, _ := newDriver(ks, "k1")
	blob, err := d.Wrap(t.Context(), key2, testWC)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if _, err := d.Wrap(t.Context(), key2, testWC); !errors.Is(err, errClosed) {
		t.Errorf("Wrap after Close err = %v, want ErrClosed", err)
	}
	if _, err := d.Unwrap(t.Context(), blob, testWC); !errors.Is(err, errClosed) {
		t.Errorf("Unwrap after Close err = %v, want ErrClosed", err)
	}
}

func TestWrapLimits(t *testing.T) {
	ks, _ := newKeyset(map[string][]byte{"k1": key1})
	d, _ := newDriver(ks, "k1")
	blob, err := d.Wrap(t.Context(), make([]byte, maxPlaintextSize), testWC)
	if err != nil {
		t.Fatalf("Wrap(MaxPlaintextSize) err = %v", err)
	}
	if got, err := d.Unwrap(t.Context(), blob, testWC); err != nil || len(got) != maxPlaintextSize {
		t.Fatalf("Unwrap(MaxPlaintextSize blob) = %d bytes, %v", len(got), err)
	}
	if _, err := d.Wrap(t.Context(), make([]byte, maxPlaintextSize+1), testWC); err == nil || kms.IsRetryable(err) {
		t.Errorf("Wrap(MaxPlaintextSize+1) err = %v, want a permanent error", err)
	}
	if len(blob) != 1+12+maxPlaintextSize+16 {
		t.Errorf("blob overhead = %d, want 29", len(blob)-maxPlaintextSize)
	}
}

func FuzzUnwrap(f *testing.F) {
	ks, _ := newKeyset(map[string][]byte{"k1": key1})
	d, _ := newDriver(ks, "k1")
	blob, err := d.Wrap(f.Context(), key2, testWC)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob, testWC.Tenant)
	f.Add(blob, "tenant-b")
	f.Add(blob[:29], testWC.Tenant)
	f.Add([]byte{1}, "")
	f.Add([]byte{}, testWC.Tenant)
	f.Fuzz(func(t *testing.T, blob []byte, tenant string) {
		wc := testWC
		wc.Tenant = tenant
		got, err := d.Unwrap(t.Context(), blob, wc)
		if err != nil {
			if !errors.Is(err, kms.ErrUnwrap) || got != nil {
				t.Fatalf("Unwrap err = %v with %d bytes, want kms.ErrUnwrap and nil", err, len(got))
			}
			return
		}
		// Only a blob that Wrap made can open, for its tenant, and then to
		// its plaintext.
		if tenant != testWC.Tenant || !bytes.Equal(got, key2) {
			t.Fatalf("Unwrap of fuzzed blob opened to %d unexpected bytes", len(got))
		}
	})
}

func TestFileURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir?#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keys")
	if err := GenerateKeyFile(path, "k1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"k1", ""} {
		u := FileURL(path, id)
		k, err := kms.Open(t.Context(), u)
		if err != nil {
			t.Fatalf("kms.Open(FileURL(%q, %q) = %q) err = %v", path, id, u, err)
		}
		if want := FileURL(path, "k1"); k.URI() != want {
			t.Errorf("URI() = %q, want %q", k.URI(), want)
		}
		k.Close()
	}
	if got, want := EnvURL("KEYS", "k1"), "local://?env=KEYS&id=k1"; got != want {
		t.Errorf("EnvURL = %q, want %q", got, want)
	}
	if got, want := EnvURL("KEYS", ""), "local://?env=KEYS"; got != want {
		t.Errorf("EnvURL(no id) = %q, want %q", got, want)
	}
}
