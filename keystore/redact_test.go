package keystore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// TestRedaction: no fmt verb, JSON or slog output of a Key, a Store, Stats
// or an error shows a data key's bytes.
func TestRedaction(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	k, err := s.active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Cipher("patients", "name"); err != nil {
		t.Fatal(err)
	}
	dek := bytes.Clone(heldDEK(k))
	forbidden := []string{
		hex.EncodeToString(dek), strings.ToUpper(hex.EncodeToString(dek)),
		string(dek), base64.StdEncoding.EncodeToString(dek),
		fmt.Sprint(dek)[1 : len(fmt.Sprint(dek))-1], // "12 34 56 …" as %v prints a []byte
	}
	check := func(what, out string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Fatalf("%s = %q leaks the data key", what, out)
			}
		}
	}

	verbs := []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T"}
	for _, verb := range verbs {
		got := fmt.Sprintf(verb, k)
		if verb != "%T" && got != "[redacted]" {
			t.Errorf("Sprintf(%q, key) = %q, want [redacted]", verb, got)
		}
		check("Sprintf("+verb+", key)", got)
		check("Sprintf("+verb+", struct with key)", fmt.Sprintf(verb, struct {
			K *dataKey
			L []*dataKey
		}{k, []*dataKey{k}}))
		check("Sprintf("+verb+", store)", fmt.Sprintf(verb, s))
		check("Sprintf("+verb+", stats)", fmt.Sprintf(verb, s.Stats()))
	}
	if got := fmt.Sprintf("%v", s); !strings.Contains(got, tdb.table) || !strings.Contains(got, testKEK) {
		t.Errorf("Sprintf(%%v, store) = %q, want the table and KEK URI", got)
	}
	for _, v := range []any{k, s, s.Stats(), map[string]any{"key": k, "store": s}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T) = %v", v, err)
		}
		check(fmt.Sprintf("json.Marshal(%T)", v), string(j))
	}
	if j, _ := json.Marshal(k); string(j) != `"[redacted]"` {
		t.Errorf("json.Marshal(key) = %s, want \"[redacted]\"", j)
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("msg", "key", k, "store", s, "any", any(k))
		check("slog output", b.String())
		if !strings.Contains(b.String(), "[redacted]") {
			t.Errorf("slog output = %s, want [redacted]", b.String())
		}
	}
	// Errors name keys, never hold them.
	drv.failNext(errTestDenied)
	fresh := newTestStore(t, tdb, tdb.open(t), drv.keeper(testKEK))
	_, err = fresh.lookupKey(ctxb, "acme", 1)
	var ke *Error
	if !errors.As(err, &ke) {
		t.Fatalf("Key with KMS denied = %v, want Error", err)
	}
	check("Error", err.Error())
	check("Error %+v", fmt.Sprintf("%+v", err))

	// A zeroed key still prints as [redacted].
	s.Close()
	if got := fmt.Sprintf("%v %#v", k, k); got != "[redacted] [redacted]" {
		t.Errorf("Sprintf(closed key) = %q", got)
	}
}

// sqliteOnly returns a fresh sqldialect.SQLite key table, for tests about the Key
// type or the cache that do not depend on the database.
func sqliteOnly(t testing.TB) *testDB {
	t.Helper()
	path := t.TempDir() + "/keys.db"
	tdb := &testDB{dialect: sqldialect.SQLite, driver: "sqlite", dsn: "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)", table: "colcrypt_keys"}
	tdb.db = tdb.open(t)
	mustCreateTable(t, tdb)
	return tdb
}

func TestKeyAfterClose(t *testing.T) {
	drv := newInsecureTestKMS(t)
	tdb := sqliteOnly(t)
	s := newTestStore(t, tdb, tdb.db, drv.keeper(testKEK))
	k, err := s.active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	dek := heldDEK(k)
	s.Close()
	s.Close() // idempotent
	if !allZero(dek) {
		t.Fatalf("Close did not zero the cached key")
	}
	if _, err := k.Cipher("t", "c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Key.Cipher after Close = %v, want ErrClosed", err)
	}
	for name, f := range map[string]func() error{
		"Key":      func() error { _, err := s.lookupKey(ctxb, "acme", 1); return err },
		"liveKeys": func() error { _, err := s.liveKeys(ctxb, "acme"); return err },
		"Rotate":   func() error { _, err := s.Rotate(ctxb, "acme"); return err },
		"Shred":    func() error { return s.Shred(ctxb, "acme") },
		"List":     func() error { _, err := s.List(ctxb, ""); return err },
		"Tenants":  func() error { _, err := s.Tenants(ctxb); return err },
		"Rewrap":   func() error { _, err := s.Rewrap(ctxb, drv.keeper(testKEK2), RewrapOptions{}); return err },
	} {
		if err := f(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestKeyCipherCache: Cipher derives once per (table, column), and the
// ciphers of different columns are independent.
func TestKeyCipherCache(t *testing.T) {
	k := newKey("acme", 1, bytes.Repeat([]byte{7}, 32))
	a, err := k.Cipher("patients", "name")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := k.Cipher("patients", "name"); b != a {
		t.Fatalf("Cipher(patients, name) twice gave two ciphers")
	}
	b, _ := k.Cipher("patients", "email")
	v, _ := a.Seal(nil, []byte("x"))
	if _, err := b.Open(nil, v); err == nil {
		t.Fatalf("a value of patients.name opened as patients.email")
	}
	// Length-prefixed scope: ("ab", "c") and ("a", "bc") are different.
	c1, _ := k.Cipher("ab", "c")
	c2, _ := k.Cipher("a", "bc")
	v, _ = c1.Seal(nil, []byte("x"))
	if _, err := c2.Open(nil, v); err == nil {
		t.Fatalf("a value of ab.c opened as a.bc")
	}
	if allocs := testing.AllocsPerRun(100, func() { k.Cipher("patients", "name") }); allocs != 0 {
		t.Fatalf("warm Cipher allocates %v times, want 0", allocs)
	}
}

// TestStoreCollectedWithoutClose: a Store dropped without Close still has
// its keys zeroed and its janitor stopped once it is garbage collected.
func TestStoreCollectedWithoutClose(t *testing.T) {
	tdb := sqliteOnly(t)
	kek := newInsecureTestKMS(t).keeper(testKEK)
	k := func() *dataKey {
		s, err := New(tdb.db, kek, tdb.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		k, err := s.active(ctxb, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}()
	waitFor(t, "the dropped Store's cleanup", func() bool {
		runtime.GC()
		return k.zeroed()
	})
	if _, err := k.Cipher("t", "c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Cipher after the Store was collected = %v, want ErrClosed", err)
	}
}

// TestLogsAndEvents: debug logs and observer events describe each KMS
// call, rotation and shred, and carry no key bytes.
func TestLogsAndEvents(t *testing.T) {
	tdb := sqliteOnly(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var kinds []eventKind
	s := newTestStore(t, tdb, tdb.db, newInsecureTestKMS(t).keeper(testKEK), WithTelemetry(Telemetry{Logger: logger}),
		WithTelemetry(Telemetry{Observer: func(e Event) {
			kinds = append(kinds, e.Kind)
			if (e.Kind == eventWrap || e.Kind == eventUnwrap) && (e.KEKURI != testKEK || e.Attempt != 1 || e.Start.IsZero() || e.Duration < 0) {
				t.Errorf("event %+v lacks the KMS call's details", e)
			}
		}}))
	k, err := s.active(ctxb, "acme")
	if err != nil {
		t.Fatal(err)
	}
	dek := hex.EncodeToString(heldDEK(k))
	if _, err := s.Rotate(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.Shred(ctxb, "acme"); err != nil {
		t.Fatal(err)
	}
	// Data key, audit chain key, rotated data key.
	want := []eventKind{eventWrap, eventWrap, eventWrap, eventRotate, eventShred}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events = %v, want %v", kinds, want)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, msg := range []string{"keystore: kms wrap", "keystore: rotated tenant key", "keystore: shredded tenant keys"} {
		if !strings.Contains(out, msg) {
			t.Errorf("logs lack %q:\n%s", msg, out)
		}
	}
	if strings.Contains(out, dek) {
		t.Fatalf("logs leak the data key:\n%s", out)
	}
}

// heldDEK is the key's data key bytes, white box: the slice that zeroing
// clears.
func heldDEK(k *dataKey) []byte {
	var b []byte
	if d := k.st.dek; d != nil {
		d.Use(func(key []byte) { b = key })
	}
	return b
}
