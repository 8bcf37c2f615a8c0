package localkms

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	key1 = bytes.Repeat([]byte{0x11}, 32)
	key2 = bytes.Repeat([]byte{0x22}, 32)
	b64  = base64.StdEncoding.EncodeToString
)

func TestParseKeyset(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ids  []string
	}{
		{"one", "k1:" + b64(key1), []string{"k1"}},
		{"newline", "k1:" + b64(key1) + "\n", []string{"k1"}},
		{"comments and blanks", "# keys\n\n  # indented comment\nk1:" + b64(key1) + "\n\nk2:" + b64(key2) + "\n", []string{"k1", "k2"}},
		{"CRLF and spaces", "k1 : " + b64(key1) + "\r\n\tk2:" + b64(key2) + "  \r\n", []string{"k1", "k2"}},
		{"id charset", "A-z_0.9:" + b64(key1), []string{"A-z_0.9"}},
	}
	for _, tt := range tests {
		ks, err := parseKeyset([]byte(tt.in), false)
		if err != nil {
			t.Errorf("ParseKeyset(%s) err = %v, want nil", tt.name, err)
			continue
		}
		if got := ks.ids; fmt.Sprint(got) != fmt.Sprint(tt.ids) {
			t.Errorf("ParseKeyset(%s).ids = %q, want %q", tt.name, got, tt.ids)
		}
	}
}

func TestParseKeysetErrors(t *testing.T) {
	short, long := b64(key1[:16]), b64(append(bytes.Clone(key1), 0x33))
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no keys"},
		{"only comments", "# nothing\n\n", "no keys"},
		{"no colon", b64(key1), "line 1: want id:base64-key"},
		{"empty id", ":" + b64(key1), "invalid key id"},
		{"bad id", "k 1:" + b64(key1), "invalid key id"},
		{"long id", strings.Repeat("k", 65) + ":" + b64(key1), "invalid key id"},
		{"short key", "k1:" + short, `key "k1" is 16 bytes, want 32`},
		{"long key", "k1:" + long, `key "k1" is 33 bytes, want 32`},
		{"very long key", "k1:" + strings.Repeat(b64(key1), 100), "too long"},
		{"not base64", "k1:" + strings.Repeat("!", 44), "not valid standard base64"},
		{"unpadded", "k1:" + base64.RawStdEncoding.EncodeToString(key1), "not valid standard base64"},
		{"url alphabet", "k1:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), "not valid standard base64"},
		{"hex", "k1:" + hex.EncodeToString(key1), "too long"},
		{"duplicate", "k1:" + b64(key1) + "\nk1:" + b64(key2), `line 2: key id "k1" appears twice`},
		{"second line bad", "k1:" + b64(key1) + "\nk2:" + short, "line 2:"},
		{"comma in file", "k1:" + b64(key1) + ",k2:" + b64(key2), "too long"},
		{"too big", strings.Repeat("#", 1<<20+1), "max"},
	}
	for _, tt := range tests {
		ks, err := parseKeyset([]byte(tt.in), false)
		if err == nil || !strings.HasPrefix(err.Error(), "localkms: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseKeyset(%s) err = %v, want one containing %q", tt.name, err, tt.want)
		}
		if ks != nil {
			t.Errorf("ParseKeyset(%s) returned a key set with its error", tt.name)
		}
		if err != nil {
			assertNoKeyMaterial(t, err.Error(), []byte(tt.in), key1, key2)
		}
	}
}

// assertNoKeyMaterial checks that s holds no key, raw, hex or base64, and
// no base64 run of 16 or more characters from the input's key fields.
func assertNoKeyMaterial(t *testing.T, s string, input []byte, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		for _, enc := range []string{string(k), hex.EncodeToString(k), b64(k), b64(k)[:16]} {
			if strings.Contains(s, enc) {
				t.Errorf("%q contains key material", s)
				return
			}
		}
	}
	for _, line := range strings.Split(string(input), "\n") {
		_, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if ok && len(v) >= 16 && strings.Contains(s, v[:16]) {
			t.Errorf("%q quotes a key field", s)
		}
	}
}

func TestNewKeyset(t *testing.T) {
	if _, err := newKeyset(map[string][]byte{"k1": key1[:31]}); err == nil {
		t.Error("NewKeyset(31-byte key) err = nil, want an error")
	}
	if _, err := newKeyset(map[string][]byte{"k/1": key1}); err == nil {
		t.Error("NewKeyset(id k/1) err = nil, want an error")
	}
	if _, err := newKeyset(nil); err == nil {
		t.Error("NewKeyset(nil) err = nil, want an error")
	}
	// The key set holds its own copy.
	k := bytes.Clone(key1)
	ks, err := newKeyset(map[string][]byte{"k1": k})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := newDriver(ks, "k1")
	clear(k)
	d2, _ := newDriver(ks, "k1")
	blob, err := d1.Wrap(t.Context(), []byte("dek"), testWC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Unwrap(t.Context(), blob, testWC); err != nil {
		t.Errorf("Unwrap after the caller cleared its key slice err = %v, want nil", err)
	}
}

func TestNewChoosesKey(t *testing.T) {
	one, _ := newKeyset(map[string][]byte{"only": key1})
	two, _ := newKeyset(map[string][]byte{"k1": key1, "k2": key2})
	tests := []struct {
		ks      *keyset
		id      string
		wantID  string
		wantErr string
	}{
		{one, "", "only", ""},
		{one, "only", "only", ""},
		{one, "k1", "", `no key with id "k1" (have only)`},
		{two, "k2", "k2", ""},
		{two, "", "", "2 keys (k1, k2): choose one"},
		{nil, "", "", "no keys"},
	}
	for _, tt := range tests {
		d, err := newDriver(tt.ks, tt.id)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New(%q) err = %v, want %q", tt.id, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d.id != tt.wantID {
			t.Errorf("New(%q) = %v, %v; want key %q", tt.id, d, err, tt.wantID)
		}
	}
}

// TestRedaction prints a Keyset and a Driver every way fmt and JSON can.
func TestRedaction(t *testing.T) {
	ks, err := newKeyset(map[string][]byte{"k1": key1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(ks, "k1")
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, v := range []any{ks, *ks, d, struct{ K *keyset }{ks}, []any{ks, d}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
	}
	for _, v := range []any{ks, *ks, struct{ K *keyset }{ks}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal err = %v", err)
		}
		outs = append(outs, string(j))
	}
	for _, s := range outs {
		assertNoKeyMaterial(t, s, nil, key1)
		if strings.Contains(s, "17 17 17") || strings.Contains(s, "0x11, 0x11") {
			t.Errorf("%q looks like key bytes", s)
		}
	}
	if got := fmt.Sprintf("%v", ks); got != "[redacted]" {
		t.Errorf("Sprintf(%%v, keyset) = %q, want [redacted]", got)
	}
	if got := d.String(); got != "localkms(k1, key [redacted])" {
		t.Errorf("driver.String() = %q, want localkms(k1, key [redacted])", got)
	}
}

func TestGenerateKeyFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "keys")
	if err := GenerateKeyFile(path, "k1"); err != nil {
		t.Fatalf("GenerateKeyFile(new, k1) err = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	ks1, err := readKeyFile(path)
	if err != nil || fmt.Sprint(ks1.ids) != "[k1]" {
		t.Fatalf("ReadKeyFile after one key = %v, %v; want [k1]", ks1.ids, err)
	}
	d1, _ := newDriver(ks1, "k1")
	blob, err := d1.Wrap(ctx, key2, testWC)
	if err != nil {
		t.Fatal(err)
	}

	// A rotation: k2 is appended, k1 still unwraps what it wrapped.
	if err := GenerateKeyFile(path, "k2"); err != nil {
		t.Fatalf("GenerateKeyFile(existing, k2) err = %v", err)
	}
	ks2, err := readKeyFile(path)
	if err != nil || fmt.Sprint(ks2.ids) != "[k1 k2]" {
		t.Fatalf("ReadKeyFile after rotation = %v, %v; want [k1 k2]", ks2.ids, err)
	}
	d1again, _ := newDriver(ks2, "k1")
	if got, err := d1again.Unwrap(ctx, blob, testWC); err != nil || !bytes.Equal(got, key2) {
		t.Errorf("k1 after rotation: Unwrap err = %v, want nil and the plaintext", err)
	}
	d2, _ := newDriver(ks2, "k2")
	if _, err := d2.Unwrap(ctx, blob, testWC); err == nil {
		t.Errorf("k2 unwrapped a blob of k1, want an error: keys must differ")
	}

	before, _ := os.ReadFile(path)
	if err := GenerateKeyFile(path, "k1"); err == nil || !strings.Contains(err.Error(), "already in") {
		t.Errorf("GenerateKeyFile(duplicate k1) err = %v, want already in", err)
	}
	if err := GenerateKeyFile(path, "bad id"); err == nil {
		t.Errorf("GenerateKeyFile(bad id) err = nil, want an error")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("a refused GenerateKeyFile changed the file")
	}

	// A file without a trailing newline, and a broken file.
	other := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(other, []byte("# mine\nk1:"+b64(key1)), 0o600)
	if err := GenerateKeyFile(other, "k2"); err != nil {
		t.Fatalf("GenerateKeyFile(no trailing newline) err = %v", err)
	}
	if ks, err := readKeyFile(other); err != nil || fmt.Sprint(ks.ids) != "[k1 k2]" {
		t.Errorf("after appending to a file without trailing newline: %v, %v; want [k1 k2]", ks, err)
	}
	broken := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(broken, []byte("k1:"+b64(key1[:8])+"\n"), 0o600)
	before, _ = os.ReadFile(broken)
	if err := GenerateKeyFile(broken, "k2"); err == nil || !strings.Contains(err.Error(), "not adding a key") {
		t.Errorf("GenerateKeyFile(broken file) err = %v, want not adding a key", err)
	}
	if after, _ := os.ReadFile(broken); !bytes.Equal(before, after) {
		t.Errorf("GenerateKeyFile changed a broken file")
	}
	// A file with only comments takes a key.
	empty := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(empty, []byte("# to be filled\n"), 0o600)
	if err := GenerateKeyFile(empty, "k1"); err != nil {
		t.Errorf("GenerateKeyFile(comments only) err = %v, want nil", err)
	}
	if _, err := readKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("ReadKeyFile(missing) err = nil, want an error")
	}
}

func FuzzParseKeyset(f *testing.F) {
	seeds := []string{
		"k1:" + b64(key1),
		"# c\nk1:" + b64(key1) + "\r\nk2:" + b64(key2) + "\n",
		"k1:" + b64(key1[:16]),
		":",
		"k1:" + b64(key1) + "\nk1:" + b64(key1),
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := parseKeyset(data, false)
		if err != nil {
			if ks != nil {
				t.Fatalf("ParseKeyset returned a key set with error %v", err)
			}
			return
		}
		ids := ks.ids
		if len(ids) == 0 {
			t.Fatalf("ParseKeyset succeeded with no keys")
		}
		for _, id := range ids {
			if _, err := newDriver(ks, id); err != nil {
				t.Fatalf("New(parsed key set, %q) err = %v", id, err)
			}
		}
	})
}
