package cipher

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/internal/redacttest"
)

// TestCipherRedacted formats a Cipher every way a log line might and checks
// that no subkey (nor the DEK) shows up, as hex, raw bytes or base64.
func TestCipherRedacted(t *testing.T) {
	dek := patterned(DEKSize, 0x5a)
	c, err := NewCipher(dek, 1, tamperScope)
	if err != nil {
		t.Fatal(err)
	}
	var secrets [][]byte
	for _, sk := range []struct {
		label string
		n     int
	}{{labelGCM, 32}, {labelSIV, 64}, {labelBidx, 32}} {
		k, err := deriveSubkey(dek, sk.label, tamperScope.Table, tamperScope.Column, sk.n)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, k)
	}
	// The SIV key's halves are used separately (CMAC key, CTR key).
	secrets = append(secrets, secrets[1][:32], secrets[1][32:], dek)

	type exported struct{ C *Cipher }
	type unexported struct{ c *Cipher }
	type embedded struct{ *Cipher }
	// A copy of the struct itself: fmt prints it field by field by
	// reflection, bypassing Format, so no field may hold key bytes. (vet
	// forbids copying it directly; reflection is how it can still happen.)
	copied := reflect.ValueOf(c).Elem().Interface()

	subjects := map[string]any{
		"*Cipher":          c,
		"struct{C}":        exported{c},
		"struct{c}":        unexported{c},
		"embedded":         embedded{c},
		"&struct{C}":       &exported{c},
		"[]*Cipher":        []*Cipher{c, c},
		"map":              map[string]*Cipher{"k": c},
		"Cipher copy":      copied,
		"struct{any copy}": struct{ X any }{copied},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T %v"}
	for name, s := range subjects {
		for _, verb := range verbs {
			checkNoSecret(t, fmt.Sprintf("Sprintf(%q, %s)", verb, name), []byte(fmt.Sprintf(verb, s)), secrets)
		}
		checkNoSecret(t, "Sprint("+name+")", []byte(fmt.Sprint(s)), secrets)
		checkNoSecret(t, "Sprintln("+name+")", []byte(fmt.Sprintln(s)), secrets)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("json.Marshal(%s) err = %v", name, err)
		}
		checkNoSecret(t, "json.Marshal("+name+")", b, secrets)
	}
	// The shared table: by pointer and by value, bare and inside
	// structs, slices, maps; fmt, JSON and slog.
	redacttest.Check(t, redacttest.Subjects("Cipher", c), secrets...)
	// A Cipher copied by value redacts itself rather than printing its
	// fields.
	for _, verb := range redacttest.Verbs[:len(redacttest.Verbs)-1] {
		if got := fmt.Sprintf(verb, copied); got != "[redacted]" {
			t.Errorf("Sprintf(%q, Cipher copy) = %q, want [redacted]", verb, got)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		if got := fmt.Sprintf(verb, c); got != "[redacted]" {
			t.Errorf("Sprintf(%q, c) = %q, want [redacted]", verb, got)
		}
	}
	if got := c.String() + c.GoString(); got != "[redacted][redacted]" {
		t.Errorf("String, GoString = %q, want [redacted] twice", got)
	}
	if b, _ := json.Marshal(exported{c}); string(b) != `{"C":"[redacted]"}` {
		t.Errorf("json.Marshal(struct{C}) = %s, want {\"C\":\"[redacted]\"}", b)
	}
}

func checkNoSecret(t *testing.T, what string, out []byte, secrets [][]byte) {
	t.Helper()
	lower := bytes.ToLower(out)
	for _, k := range secrets {
		// 8-byte windows catch partial dumps too.
		for i := 0; i+8 <= len(k); i += 4 {
			w := k[i : i+8]
			if bytes.Contains(out, w) ||
				bytes.Contains(lower, []byte(hex.EncodeToString(w))) ||
				bytes.Contains(out, []byte(base64.StdEncoding.EncodeToString(w)[:8])) ||
				strings.Contains(string(out), decimalBytes(w)) {
				t.Fatalf("%s leaks key bytes %x: %.300s", what, w, out)
			}
		}
	}
}

// decimalBytes is how %v prints a []byte: [12 34 ...].
func decimalBytes(b []byte) string {
	s := fmt.Sprint(b)
	return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
}

// TestNoncesRedacted: a Nonces prints no nonce it has yet to hand out.
func TestNoncesRedacted(t *testing.T) {
	n := new(Nonces)
	n.next()
	pending := bytes.Clone(n.st.buf[nonceSize:])
	redacttest.Check(t, redacttest.Subjects("Nonces", n), pending)
}
