package sqltypes_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/sqltypes"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// TestNoPlaintextAtRest reads the stored columns with plain SQL, in
// Postgres, MySQL and SQLite, binary and armored, randomized and
// deterministic.
func TestNoPlaintextAtRest(t *testing.T) {
	plaintexts := []string{"123-45-6789", "ann@example.com", "Zoë Ångström"}
	check := func(t *testing.T, b *backend) {
		ctx := context.Background()
		if err := b.exec(ctx, `CREATE TABLE people (id integer PRIMARY KEY, tenant_id text, b `+b.blob+`, a text, d `+b.blob+`)`); err != nil {
			t.Fatalf("CREATE TABLE: %v", err)
		}
		bin := sqltypes.NewColumn[string](b.enc, "people", "b")
		arm := sqltypes.NewColumn[string](b.enc, "people", "a", sqltypes.WithTag("armor"))
		det := sqltypes.NewColumn[string](b.enc, "people", "d", sqltypes.WithTag("deterministic"))
		for i, p := range plaintexts {
			if err := b.exec(ctx, b.sub(`INSERT INTO people VALUES (?, ?, ?, ?, ?)`), i, "acme",
				bin.Value(ctx, "acme", p), arm.Value(ctx, "acme", p), det.Value(ctx, "acme", p)); err != nil {
				t.Fatalf("INSERT: %v", err)
			}
		}
		for _, col := range []string{"b", "a", "d"} {
			testhelpers.AssertNoPlaintext(t, b.raw, "people", col, plaintexts...)
		}
	}
	t.Run("sqlite", func(t *testing.T) { check(t, sqliteBackend(t)) })
	t.Run("postgres", func(t *testing.T) {
		pg := newPG(t)
		check(t, sqlBackend("postgres", "bytea", pg.db, pg.enc, dollar))
	})
	t.Run("mysql", func(t *testing.T) { check(t, mysqlBackend(t)) })
}

// TestMovedCiphertext copies a stored value to another tenant's row and to
// another column: both must fail to open with codec.ErrAuth, never decrypt.
func TestMovedCiphertext(t *testing.T) {
	for _, armored := range []bool{false, true} {
		t.Run(fmt.Sprintf("armor=%v", armored), func(t *testing.T) {
			e := newSQLite(t)
			ctx := context.Background()
			mustExec(t, e.db, `CREATE TABLE p (id integer PRIMARY KEY, tenant_id text, ssn BLOB, email BLOB)`)
			var opts []sqltypes.Option
			if armored {
				opts = append(opts, sqltypes.WithTag("armor"))
			}
			ssn := sqltypes.NewColumn[string](e.enc, "p", "ssn", opts...)
			email := sqltypes.NewColumn[string](e.enc, "p", "email", opts...)
			mustExec(t, e.db, `INSERT INTO p VALUES (1, 'acme', ?, ?)`, ssn.Value(ctx, "acme", "123-45-6789"), email.Value(ctx, "acme", "a@acme.test"))
			mustExec(t, e.db, `INSERT INTO p VALUES (2, 'globex', ?, NULL)`, ssn.Value(ctx, "globex", "987-65-4321"))
			// Another tenant's row.
			mustExec(t, e.db, `UPDATE p SET ssn = (SELECT ssn FROM p WHERE id = 1) WHERE id = 2`)
			// Another column of the same row.
			mustExec(t, e.db, `UPDATE p SET email = ssn WHERE id = 1`)

			for _, tc := range []struct {
				name   string
				query  string
				tenant string
				col    *sqltypes.Column[string]
				column string
			}{
				{"other tenant", `SELECT ssn FROM p WHERE id = 2`, "globex", ssn, "ssn"},
				{"other column", `SELECT email FROM p WHERE id = 1`, "acme", email, "email"},
			} {
				out := "unchanged"
				err := e.db.QueryRowContext(ctx, tc.query).Scan(tc.col.Scan(ctx, tc.tenant, &out))
				if !errors.Is(err, codec.ErrAuth) {
					t.Errorf("%s: Scan err = %v, want codec.ErrAuth", tc.name, err)
				}
				if out != "unchanged" {
					t.Errorf("%s: Scan set dst = %q after an error, want it unchanged", tc.name, out)
				}
				if err != nil && !strings.Contains(err.Error(), "p."+tc.column) {
					t.Errorf("%s: err = %q, want it to name p.%s", tc.name, err, tc.column)
				}
			}
		})
	}
}

func TestNull(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE p (id integer PRIMARY KEY, v BLOB)`)
	ptrCol := sqltypes.NewColumn[*string](e.enc, "p", "v")
	mustExec(t, e.db, `INSERT INTO p VALUES (1, ?)`, ptrCol.Value(ctx, "acme", nil))
	if raw := rawValue(t, e.db, `SELECT v FROM p WHERE id = 1`); raw != nil {
		t.Fatalf("stored nil *string = %x, want NULL", raw)
	}
	var typ string
	if err := e.db.QueryRow(`SELECT typeof(v) FROM p WHERE id = 1`).Scan(&typ); err != nil || typ != "null" {
		t.Fatalf("typeof(v) = %q, %v; want null", typ, err)
	}

	t.Run("into pointer", func(t *testing.T) {
		out := ptr("previous row")
		if err := e.db.QueryRow(`SELECT v FROM p WHERE id = 1`).Scan(ptrCol.Scan(ctx, "acme", &out)); err != nil {
			t.Fatalf("Scan(NULL) into *string: %v", err)
		}
		if out != nil {
			t.Errorf("Scan(NULL) into *string = %q, want nil", *out)
		}
	})
	t.Run("into bytes", func(t *testing.T) {
		col := sqltypes.NewColumn[[]byte](e.enc, "p", "v")
		out := []byte("previous row")
		if err := e.db.QueryRow(`SELECT v FROM p WHERE id = 1`).Scan(col.Scan(ctx, "acme", &out)); err != nil || out != nil {
			t.Errorf("Scan(NULL) into []byte = %q, %v; want nil, nil", out, err)
		}
	})
	t.Run("into string", func(t *testing.T) {
		col := sqltypes.NewColumn[string](e.enc, "p", "v")
		out := "unchanged"
		err := e.db.QueryRow(`SELECT v FROM p WHERE id = 1`).Scan(col.Scan(ctx, "acme", &out))
		if !errors.Is(err, field.ErrNull) {
			t.Errorf("Scan(NULL) into string err = %v, want ErrNull", err)
		}
		var ce *sqltypes.ColumnError
		if !errors.As(err, &ce) || ce.Table != "p" || ce.Column != "v" {
			t.Errorf("Scan(NULL) into string err = %#v, want a *ColumnError naming p.v", err)
		}
		if out != "unchanged" {
			t.Errorf("Scan(NULL) into string changed dst to %q", out)
		}
	})
	t.Run("into int64", func(t *testing.T) {
		col := sqltypes.NewColumn[int64](e.enc, "p", "v")
		var out int64
		if err := e.db.QueryRow(`SELECT v FROM p WHERE id = 1`).Scan(col.Scan(ctx, "acme", &out)); !errors.Is(err, field.ErrNull) {
			t.Errorf("Scan(NULL) into int64 err = %v, want ErrNull", err)
		}
	})

	t.Run("pointer gets a fresh pointee per row", func(t *testing.T) {
		mustExec(t, e.db, `INSERT INTO p VALUES (2, ?), (3, ?)`, ptrCol.Value(ctx, "acme", ptr("two")), ptrCol.Value(ctx, "acme", ptr("three")))
		rows, err := e.db.Query(`SELECT v FROM p WHERE id IN (2, 3) ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out *string
		var got []*string
		for rows.Next() {
			if err := rows.Scan(ptrCol.Scan(ctx, "acme", &out)); err != nil {
				t.Fatal(err)
			}
			got = append(got, out)
		}
		if len(got) != 2 || *got[0] != "two" || *got[1] != "three" {
			t.Errorf("rows scanned into one *string variable = %q, %q; want two, three", *got[0], *got[1])
		}
	})
}

func TestAllowPlaintext(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE p (id integer PRIMARY KEY, s TEXT, n INTEGER)`)
	strict := sqltypes.NewColumn[string](e.enc, "p", "s", sqltypes.WithTag("armor"))
	lenient := sqltypes.NewColumn[string](e.enc, "p", "s", sqltypes.WithTag("armor"), sqltypes.WithTag("allowplaintext"))

	mustExec(t, e.db, `INSERT INTO p VALUES (1, 'plain old value', 42)`)
	mustExec(t, e.db, `INSERT INTO p VALUES (2, ?, NULL)`, strict.Value(ctx, "acme", "sealed value"))
	sealed := rawValue(t, e.db, `SELECT s FROM p WHERE id = 2`)

	// One flipped bit in the base64 of the ciphertext, a corrupt armor, and
	// a binary value with a bad tag: each starts like a colcrypt value.
	tampered := []byte(string(sealed))
	tampered[len(tampered)-3] ^= 0x01
	if tampered[len(tampered)-3] == '+' || tampered[len(tampered)-3] == '/' {
		tampered[len(tampered)-3] = 'A'
	}
	bin, _ := codec.Dearmor(sealed)
	bin[len(bin)-1] ^= 0x80
	mustExec(t, e.db, `INSERT INTO p VALUES (3, ?, NULL)`, string(tampered))
	mustExec(t, e.db, `INSERT INTO p VALUES (4, ?, NULL)`, codec.ArmorPrefix+"!!not base64")
	mustExec(t, e.db, `INSERT INTO p VALUES (5, ?, NULL)`, bin)
	mustExec(t, e.db, `INSERT INTO p VALUES (6, ?, NULL)`, []byte{codec.Magic})

	read := func(col *sqltypes.Column[string], id int) (string, error) {
		var out string
		err := e.db.QueryRow(`SELECT s FROM p WHERE id = ?`, id).Scan(col.Scan(ctx, "acme", &out))
		return out, err
	}

	t.Run("strict refuses plaintext", func(t *testing.T) {
		_, err := read(strict, 1)
		var ne *fieldcore.NotEncryptedError
		if !errors.Is(err, field.ErrNotEncrypted) || !errors.As(err, &ne) || ne.Table != "p" || ne.Column != "s" {
			t.Fatalf("Scan(plaintext) err = %v, want a *fieldcore.NotEncryptedError for p.s", err)
		}
		if strings.Contains(err.Error(), "plain old value") {
			t.Errorf("err = %q, carries the plaintext", err)
		}
	})
	t.Run("lenient reads plaintext and ciphertext", func(t *testing.T) {
		for id, want := range map[int]string{1: "plain old value", 2: "sealed value"} {
			if got, err := read(lenient, id); err != nil || got != want {
				t.Errorf("Scan(row %d) = %q, %v; want %q", id, got, err, want)
			}
		}
	})
	t.Run("lenient never takes a bad value for plaintext", func(t *testing.T) {
		for _, id := range []int{3, 4, 5, 6} {
			got, err := read(lenient, id)
			if !errors.Is(err, codec.ErrAuth) {
				t.Errorf("Scan(row %d) = %q, %v; want codec.ErrAuth", id, got, err)
			}
		}
	})
	t.Run("lenient still checks the tenant", func(t *testing.T) {
		var out string
		err := e.db.QueryRow(`SELECT s FROM p WHERE id = 1`).Scan(lenient.Scan(field.WithTenant(ctx, "globex"), "acme", &out))
		if !errors.Is(err, field.ErrTenantMismatch) {
			t.Errorf("Scan(plaintext) with mismatched tenants err = %v, want ErrTenantMismatch", err)
		}
	})
	t.Run("numeric plaintext", func(t *testing.T) {
		n := sqltypes.NewColumn[int64](e.enc, "p", "n", sqltypes.WithTag("allowplaintext"))
		var out int64
		if err := e.db.QueryRow(`SELECT n FROM p WHERE id = 1`).Scan(n.Scan(ctx, "acme", &out)); err != nil || out != 42 {
			t.Errorf("Scan(INTEGER 42) = %d, %v; want 42", out, err)
		}
		strictN := sqltypes.NewColumn[int64](e.enc, "p", "n")
		if err := e.db.QueryRow(`SELECT n FROM p WHERE id = 1`).Scan(strictN.Scan(ctx, "acme", &out)); !errors.Is(err, field.ErrNotEncrypted) {
			t.Errorf("Scan(INTEGER) without AllowPlaintext err = %v, want ErrNotEncrypted", err)
		}
	})
	t.Run("plaintext of the wrong type", func(t *testing.T) {
		n := sqltypes.NewColumn[int64](e.enc, "p", "s", sqltypes.WithTag("allowplaintext"))
		var out int64
		err := e.db.QueryRow(`SELECT s FROM p WHERE id = 1`).Scan(n.Scan(ctx, "acme", &out))
		if !errors.Is(err, sqltypes.ErrDecode) || strings.Contains(err.Error(), "plain old value") {
			t.Errorf("Scan(text) into int64 err = %v, want ErrDecode without the plaintext", err)
		}
	})
}

// TestScanCopiesSource mutates the source buffer after Scan: the driver
// may reuse it for the next row.
func TestScanCopiesSource(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	for _, allow := range []bool{false, true} {
		var opts []sqltypes.Option
		if allow {
			opts = append(opts, sqltypes.WithTag("allowplaintext"))
		}
		bcol := sqltypes.NewColumn[[]byte](e.enc, "p", "v", opts...)
		scol := sqltypes.NewColumn[string](e.enc, "p", "v", opts...)
		jcol := sqltypes.NewColumn[json.RawMessage](e.enc, "p", "v", opts...)
		want := []byte(`{"a":"secret"}`)
		src, err := bcol.Seal(ctx, "acme", want)
		if err != nil {
			t.Fatal(err)
		}
		srcs := map[string][]byte{"sealed": src}
		if allow {
			srcs["plaintext"] = want
		}
		for name, s := range srcs {
			for _, method := range []string{"Scan", "ScanBytes"} {
				buf := bytes.Clone(s)
				var b []byte
				var str string
				var j json.RawMessage
				for _, sc := range []sql.Scanner{bcol.Scan(ctx, "acme", &b), scol.Scan(ctx, "acme", &str), jcol.Scan(ctx, "acme", &j)} {
					var err error
					if method == "Scan" {
						err = sc.Scan(buf)
					} else {
						// pgx's pgtype.BytesScanner, given driver memory.
						err = sc.(interface{ ScanBytes([]byte) error }).ScanBytes(buf)
					}
					if err != nil {
						t.Fatalf("allow=%v %s: %s: %v", allow, name, method, err)
					}
				}
				for i := range buf {
					buf[i] = 'X'
				}
				if !bytes.Equal(b, want) || str != string(want) || !bytes.Equal(j, want) {
					t.Errorf("allow=%v %s: after mutating the source, %s results = %q, %q, %q; want %q", allow, name, method, b, str, j, want)
				}
			}
		}
	}
}

func TestTenants(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE p (id integer PRIMARY KEY, v BLOB)`)
	col := sqltypes.NewColumn[string](e.enc, "p", "v")

	insert := func(ctx context.Context, id int, tenant string) error {
		_, err := e.db.ExecContext(ctx, `INSERT INTO p VALUES (?, ?)`, id, col.Value(ctx, tenant, "v"))
		return err
	}
	read := func(ctx context.Context, id int, tenant string) (string, error) {
		var out string
		err := e.db.QueryRowContext(ctx, `SELECT v FROM p WHERE id = ?`, id).Scan(col.Scan(ctx, tenant, &out))
		return out, err
	}

	acmeCtx := field.WithTenant(ctx, "acme")
	if err := insert(ctx, 1, "acme"); err != nil {
		t.Fatalf("insert with tenant argument: %v", err)
	}
	if err := insert(acmeCtx, 2, ""); err != nil {
		t.Fatalf("insert with tenant in context: %v", err)
	}
	if err := insert(ctx, 3, ""); !errors.Is(err, field.ErrNoTenant) {
		t.Errorf("insert without tenant err = %v, want ErrNoTenant", err)
	}
	if err := insert(field.WithTenant(ctx, "globex"), 4, "acme"); !errors.Is(err, field.ErrTenantMismatch) {
		t.Errorf("insert with mismatched tenants err = %v, want ErrTenantMismatch", err)
	}
	for _, id := range []int{1, 2} {
		if got, err := read(acmeCtx, id, ""); err != nil || got != "v" {
			t.Errorf("read(row %d) with ctx tenant = %q, %v; want v", id, got, err)
		}
		if got, err := read(ctx, id, "acme"); err != nil || got != "v" {
			t.Errorf("read(row %d) with tenant argument = %q, %v; want v", id, got, err)
		}
		if _, err := read(ctx, id, "globex"); !errors.Is(err, codec.ErrAuth) {
			t.Errorf("read(row %d) as another tenant err = %v, want codec.ErrAuth", id, err)
		}
		if _, err := read(ctx, id, ""); !errors.Is(err, field.ErrNoTenant) {
			t.Errorf("read(row %d) without tenant err = %v, want ErrNoTenant", id, err)
		}
		if _, err := read(field.WithTenant(ctx, "globex"), id, "acme"); !errors.Is(err, field.ErrTenantMismatch) {
			t.Errorf("read(row %d) with mismatched tenants err = %v, want ErrTenantMismatch", id, err)
		}
	}

	t.Run("fixed tenant", func(t *testing.T) {
		fixed := sqltypes.NewColumn[string](field.NewEncryptor(e.keys, field.WithFixedTenant("acme")), "p", "v")
		var out string
		if err := e.db.QueryRow(`SELECT v FROM p WHERE id = 1`).Scan(fixed.Scan(ctx, "", &out)); err != nil || out != "v" {
			t.Errorf("read with fixed tenant = %q, %v; want v", out, err)
		}
	})
}

func TestShreddedTenant(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE p (id integer PRIMARY KEY, v BLOB)`)
	col := sqltypes.NewColumn[string](e.enc, "p", "v")
	mustExec(t, e.db, `INSERT INTO p VALUES (1, ?)`, col.Value(ctx, "acme", "v"))
	if err := e.keys.Shred(ctx, "acme"); err != nil {
		t.Fatalf("Shred: %v", err)
	}
	var out string
	err := e.db.QueryRow(`SELECT v FROM p WHERE id = 1`).Scan(col.Scan(ctx, "acme", &out))
	if !errors.Is(err, keystore.ErrKeyDestroyed) {
		t.Errorf("Scan after Shred err = %v, want keystore.ErrKeyDestroyed", err)
	}
	if _, err := col.Seal(ctx, "acme", "v"); !errors.Is(err, keystore.ErrKeyDestroyed) {
		t.Errorf("Seal after Shred err = %v, want keystore.ErrKeyDestroyed", err)
	}
}

func TestValuer(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	const secret = "123-45-6789"
	col := sqltypes.NewColumn[string](e.enc, "p", "ssn")

	v := col.Value(ctx, "acme", secret)
	for _, s := range []string{
		fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x %d", v, v, v, v, v, v, v), fmt.Sprint([]any{v}),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("formatted Valuer = %q, holds the plaintext", s)
		}
	}
	if j, err := json.Marshal(v); err != nil || bytes.Contains(j, []byte(secret)) {
		t.Errorf("json.Marshal(Valuer) = %s, %v; want no plaintext", j, err)
	}

	a, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	ab, ok := a.([]byte)
	if !ok || !bytes.Equal(ab, b.([]byte)) {
		t.Errorf("Value() twice = %x, %x; want one []byte sealed once", a, b)
	}
	if s := fmt.Sprintf("%v", v); strings.Contains(s, secret) {
		t.Errorf("formatted Valuer after Value() = %q", s)
	}

	arm, err := sqltypes.NewColumn[string](e.enc, "p", "ssn", sqltypes.WithTag("armor")).Value(ctx, "acme", secret).Value()
	if s, ok := arm.(string); err != nil || !ok || !strings.HasPrefix(s, codec.ArmorPrefix) {
		t.Errorf("armored Value() = %T %v, %v; want an armored string", arm, arm, err)
	}

	if got, err := sqltypes.NewColumn[*string](e.enc, "p", "ssn").Value(ctx, "", nil).Value(); got != nil || err != nil {
		t.Errorf("Value(nil *string) = %v, %v; want nil, nil (NULL needs no tenant)", got, err)
	}
	if _, err := col.Value(ctx, "", "x").Value(); !errors.Is(err, field.ErrNoTenant) {
		t.Errorf("Value() without tenant err = %v, want ErrNoTenant", err)
	}
}

func TestSealOpen(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	col := sqltypes.NewColumn[int64](e.enc, "p", "n")
	b, err := col.Seal(ctx, "acme", 42)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + 31; len(b) != want { // "42" plus GCM overhead at version 1
		t.Errorf("len(Seal(42)) = %d, want %d", len(b), want)
	}
	if got, err := col.Open(ctx, "acme", b); err != nil || got != 42 {
		t.Errorf("Open(Seal(42)) = %d, %v; want 42", got, err)
	}
	if _, err := col.Open(ctx, "acme", nil); !errors.Is(err, field.ErrNull) {
		t.Errorf("Open(nil) into int64 err = %v, want ErrNull", err)
	}
	strCol := sqltypes.NewColumn[string](e.enc, "p", "n")
	if got, err := strCol.Open(ctx, "acme", b); err != nil || got != "42" {
		t.Errorf("Open as string = %q, %v; want 42", got, err)
	}
	// A value sealed as text that is not a number does not decode, and the
	// error does not say what it was.
	s, _ := strCol.Seal(ctx, "acme", "not-a-number-secret")
	_, err = col.Open(ctx, "acme", s)
	if !errors.Is(err, sqltypes.ErrDecode) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(text) as int64 err = %v, want ErrDecode without the plaintext", err)
	}
	if got, err := sqltypes.NewColumn[*string](e.enc, "p", "n").Seal(ctx, "acme", nil); got != nil || err != nil {
		t.Errorf("Seal(nil) = %x, %v; want nil, nil", got, err)
	}
	// A value JSON cannot encode: the error says so without the value.
	type reading struct{ V float64 }
	_, err = sqltypes.NewColumn[reading](e.enc, "p", "n").Seal(ctx, "acme", reading{V: math.Inf(1)})
	if !errors.Is(err, sqltypes.ErrEncode) || strings.Contains(err.Error(), "Inf") {
		t.Errorf("Seal(+Inf in JSON) err = %v, want ErrEncode without the value", err)
	}
}

func TestNewColumnPanics(t *testing.T) {
	e := newSQLite(t)
	for name, f := range map[string]func(){
		"nil encryptor": func() { sqltypes.NewColumn[string](nil, "p", "v") },
		"no table":      func() { sqltypes.NewColumn[string](e.enc, "", "v") },
		"no column":     func() { sqltypes.NewColumn[string](e.enc, "p", "") },
		"chan":          func() { sqltypes.NewColumn[chan int](e.enc, "p", "v") },
		"interface":     func() { sqltypes.NewColumn[any](e.enc, "p", "v") },
		"complex":       func() { sqltypes.NewColumn[*complex128](e.enc, "p", "v") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewColumn(%s) did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestScanUnsupportedSource(t *testing.T) {
	e := newSQLite(t)
	col := sqltypes.NewColumn[string](e.enc, "p", "v", sqltypes.WithTag("allowplaintext"))
	var out string
	if err := col.Scan(context.Background(), "acme", &out).Scan(struct{}{}); err == nil || !strings.Contains(err.Error(), "p.v") {
		t.Errorf("Scan(struct{}{}) err = %v, want an error naming p.v", err)
	}
	if err := col.Scan(context.Background(), "acme", nil).Scan([]byte("x")); err == nil {
		t.Errorf("Scan into a nil destination err = nil, want an error")
	}
}

// TestWithTag: WithTag takes the words of a GORM model's colcrypt tag,
// several WithTag options add up, and a tag that does not parse, or that
// names a tenant, panics when the option is made.
func TestWithTag(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	for name, opts := range map[string][]sqltypes.Option{
		"one tag":  {sqltypes.WithTag("deterministic,armor")},
		"two tags": {sqltypes.WithTag("deterministic"), sqltypes.WithTag("armor")},
	} {
		col := sqltypes.NewColumn[string](e.enc, "p", "ssn", opts...)
		a, _ := col.Seal(ctx, "acme", "x")
		b, _ := col.Seal(ctx, "acme", "x")
		if !codec.IsArmored(a) || !bytes.Equal(a, b) {
			t.Errorf("%s: Seal twice with deterministic,armor = %q, %q; want equal armored values", name, a, b)
		}
	}
	// bind, bare or as a GORM model spells it, needs Row.
	for _, tag := range []string{"bind", "bind:ExternalID", "notnull, BIND"} {
		col := sqltypes.NewColumn[string](e.enc, "p", "ssn", sqltypes.WithTag(tag))
		if _, err := col.Seal(ctx, "acme", "x"); !errors.Is(err, field.ErrNoRowKey) {
			t.Errorf("WithTag(%q): Seal without Row err = %v, want field.ErrNoRowKey", tag, err)
		}
	}
	for _, tag := range []string{"determinstic", "tenant", "bind,bind", "bind,bind:ID", "bidxlen:8", "blindindex:"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithTag(%q) did not panic", tag)
				}
			}()
			sqltypes.WithTag(tag)
		}()
	}
}
