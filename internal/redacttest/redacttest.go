// Package redacttest checks that values holding key material print no key
// byte, for the redaction tests of every package that holds keys.
package redacttest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// Verbs are the fmt verbs every subject is printed with.
var Verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"}

// Subjects returns, for a pointer p to a key-holding value, the ways a
// program might hand it to a formatter: the pointer, the value copied out
// of it (by reflection, which vet's copy check does not see), and both
// inside exported, unexported and embedded fields, slices, maps and
// interfaces. name prefixes each subject's name.
func Subjects(name string, p any) map[string]any {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic("redacttest: Subjects wants a non-nil pointer")
	}
	val := v.Elem().Interface()
	type exported struct{ X any }
	type unexported struct{ x any }
	s := map[string]any{}
	for form, x := range map[string]any{"*" + name: p, name: val} {
		s[form] = x
		s["struct{X "+form+"}"] = exported{x}
		s["&struct{X "+form+"}"] = &exported{x}
		s["struct{x "+form+"}"] = unexported{x}
		s["[]"+form] = []any{x, x}
		s["map[string]"+form] = map[string]any{"k": x}
	}
	return s
}

// Check prints every subject under every verb, with Sprint and Sprintln,
// encoding/json and both log/slog handlers, and fails if any output holds
// any 8-byte window of a secret: raw, in hex (either case), in base64
// (standard or URL alphabet) or as the decimal list %v prints a []byte as.
func Check(t testing.TB, subjects map[string]any, secrets ...[]byte) {
	t.Helper()
	for name, s := range subjects {
		for _, verb := range Verbs {
			check(t, fmt.Sprintf("Sprintf(%q, %s)", verb, name), fmt.Sprintf(verb, s), secrets)
		}
		check(t, "Sprint("+name+")", fmt.Sprint(s), secrets)
		check(t, "Sprintln("+name+")", fmt.Sprintln(s), secrets)
		if b, err := json.Marshal(s); err == nil {
			check(t, "json.Marshal("+name+")", string(b), secrets)
		}
		for hname, h := range map[string]func(*bytes.Buffer) slog.Handler{
			"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var b bytes.Buffer
			slog.New(h(&b)).Info("msg", "v", s)
			check(t, "slog "+hname+" "+name, b.String(), secrets)
		}
	}
}

func check(t testing.TB, what, out string, secrets [][]byte) {
	t.Helper()
	lower := strings.ToLower(out)
	for _, k := range secrets {
		for i := 0; i+8 <= len(k); i++ {
			w := k[i : i+8]
			if strings.Contains(out, string(w)) ||
				strings.Contains(lower, hex.EncodeToString(w)) ||
				strings.Contains(out, decimal(w)) {
				t.Fatalf("%s leaks key bytes %x: %.300s", what, w, out)
			}
		}
		// Base64 of a whole key holds base64 of each 9-byte window that
		// starts on a 3-byte boundary.
		for i := 0; i+9 <= len(k); i += 3 {
			w := k[i : i+9]
			if strings.Contains(out, base64.StdEncoding.EncodeToString(w)) ||
				strings.Contains(out, base64.URLEncoding.EncodeToString(w)) {
				t.Fatalf("%s leaks key bytes %x as base64: %.300s", what, w, out)
			}
		}
	}
}

// decimal is how %v prints a []byte, without the brackets: "12 34 56".
func decimal(b []byte) string {
	s := fmt.Sprint(b)
	return s[1 : len(s)-1]
}
