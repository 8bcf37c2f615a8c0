package sqltypes_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// storesValue reports whether v is stored as a colcrypt value rather than
// NULL: database/sql's Null types say so through their Valuer (nil for
// Valid=false), everything else through field's plaintext encoding.
func storesValue(t *testing.T, v any) bool {
	t.Helper()
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return false
	}
	if vr, ok := v.(driver.Valuer); ok {
		dv, err := vr.Value()
		if err != nil {
			t.Fatalf("(%T).Value() = %v", v, err)
		}
		return dv != nil
	}
	_, ok, err := fieldcore.EncodePlaintext(v)
	if err != nil {
		t.Fatalf("EncodePlaintext(%T) = %v", v, err)
	}
	return ok
}

func nullTypeCases() []roundTripCase {
	when := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
	return []roundTripCase{
		rt("Null[string]", sql.Null[string]{V: "123-45-6789", Valid: true}),
		rt("Null[string]/empty", sql.Null[string]{V: "", Valid: true}),
		rt("Null[string]/NULL", sql.Null[string]{}),
		rt("Null[int64]", sql.Null[int64]{V: -7, Valid: true}),
		rt("NullString", sql.NullString{String: "ann@example.com", Valid: true}),
		rt("NullString/NULL", sql.NullString{}),
		rt("NullInt64", sql.NullInt64{Int64: 42, Valid: true}),
		rt("NullInt64/zero", sql.NullInt64{Int64: 0, Valid: true}),
		rt("NullInt64/NULL", sql.NullInt64{}),
		rt("NullTime", sql.NullTime{Time: when, Valid: true}),
		rt("NullTime/NULL", sql.NullTime{}),
		rt("NullInt32", sql.NullInt32{Int32: -1, Valid: true}),
		rt("NullInt16", sql.NullInt16{Int16: 32767, Valid: true}),
		rt("NullByte", sql.NullByte{Byte: 255, Valid: true}),
		rt("NullFloat64", sql.NullFloat64{Float64: 2.5, Valid: true}),
		rt("NullBool", sql.NullBool{Bool: false, Valid: true}),
		rt("NullBool/NULL", sql.NullBool{}),
		rt("*NullString", &sql.NullString{String: "x", Valid: true}),
		rt("*NullString/nil", (*sql.NullString)(nil)),
	}
}

// TestNullTypesRoundTrip: database/sql's Null types are nullable columns
// of their inner type on SQLite, MariaDB and Postgres (database/sql and
// native pgx): Valid=false is stored as NULL, not as a ciphertext, and
// reads back as Valid=false; a valid value reads back valid.
func TestNullTypesRoundTrip(t *testing.T) {
	cases := nullTypeCases()
	for bi, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			table := fmt.Sprintf("nullrt_%d", bi)
			if err := b.exec(context.Background(), fmt.Sprintf(
				`CREATE TABLE %s (id integer PRIMARY KEY, tenant_id text NOT NULL, b %s, a text)`, table, b.blob)); err != nil {
				t.Fatalf("CREATE TABLE: %v", err)
			}
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, b, table, i+1) })
			}
		})
	}
}

// TestNullTypesShareBareEncoding: a valid Null value is sealed as its
// bare inner value, so a column switches between string and
// sql.NullString (or int64 and sql.NullInt64, time.Time and
// sql.NullTime) without re-encrypting: each reads what the other wrote,
// and a deterministic column gives the very same ciphertext.
func TestNullTypesShareBareEncoding(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	const tenant = "acme"

	bare := sqltypes.NewColumn[string](e.enc, "people", "email", sqltypes.WithTag("deterministic"))
	null := sqltypes.NewColumn[sql.NullString](e.enc, "people", "email", sqltypes.WithTag("deterministic"))
	generic := sqltypes.NewColumn[sql.Null[string]](e.enc, "people", "email", sqltypes.WithTag("deterministic"))
	fromBare, err := bare.Seal(ctx, tenant, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	fromNull, err := null.Seal(ctx, tenant, sql.NullString{String: "ann@example.com", Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	fromGeneric, err := generic.Seal(ctx, tenant, sql.Null[string]{V: "ann@example.com", Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(fromNull) != string(fromBare) || string(fromGeneric) != string(fromBare) {
		t.Errorf("deterministic Seal: NullString %x, Null[string] %x; want the string's %x", fromNull, fromGeneric, fromBare)
	}
	if got, err := null.Open(ctx, tenant, fromBare); err != nil || got != (sql.NullString{String: "ann@example.com", Valid: true}) {
		t.Errorf("Column[sql.NullString].Open(string's value) = %+v, %v; want valid ann@example.com", got, err)
	}
	if got, err := bare.Open(ctx, tenant, fromNull); err != nil || got != "ann@example.com" {
		t.Errorf("Column[string].Open(NullString's value) = %q, %v; want ann@example.com", got, err)
	}

	n64 := sqltypes.NewColumn[sql.NullInt64](e.enc, "people", "visits")
	i64 := sqltypes.NewColumn[int64](e.enc, "people", "visits")
	v, err := n64.Seal(ctx, tenant, sql.NullInt64{Int64: 1234, Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := i64.Open(ctx, tenant, v); err != nil || got != 1234 {
		t.Errorf("Column[int64].Open(NullInt64's value) = %d, %v; want 1234", got, err)
	}

	when := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	nt := sqltypes.NewColumn[sql.NullTime](e.enc, "people", "seen")
	tt := sqltypes.NewColumn[time.Time](e.enc, "people", "seen")
	v, err = tt.Seal(ctx, tenant, when)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := nt.Open(ctx, tenant, v); err != nil || !got.Valid || !got.Time.Equal(when) {
		t.Errorf("Column[sql.NullTime].Open(time's value) = %+v, %v; want valid %v", got, err, when)
	}

	// NULL: nothing sealed, and NULL opens as Valid=false.
	if v, err := null.Seal(ctx, tenant, sql.NullString{String: "x"}); err != nil || v != nil {
		t.Errorf("Seal(NullString{Valid: false}) = %x, %v; want nil, nil (NULL)", v, err)
	}
	if got, err := null.Open(ctx, tenant, nil); err != nil || got.Valid {
		t.Errorf("Open(NULL) = %+v, %v; want Valid=false", got, err)
	}
	// A blind index and Match of NULL are NULL and nothing, as for a nil pointer.
	if m, err := null.Match(ctx, tenant, sql.NullString{}); err != nil || len(m) != 0 {
		t.Errorf("Match(NULL) = %x, %v; want no candidates", m, err)
	}
	if m, err := null.Match(ctx, tenant, sql.NullString{String: "ann@example.com", Valid: true}); err != nil || len(m) != 1 || string(m[0]) != string(fromBare) {
		t.Errorf("Match(valid) = %x, %v; want the string's value %x", m, err, fromBare)
	}
}

// TestNullTypesNotNull: notnull refuses NULL for a Null type as for a
// pointer: Valid=false is not written, and NULL does not read as
// Valid=false.
func TestNullTypesNotNull(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	mustExec(t, e.db, `CREATE TABLE nullnn (id integer PRIMARY KEY, v BLOB)`)
	strict := sqltypes.NewColumn[sql.NullString](e.enc, "nullnn", "v", sqltypes.WithTag("notnull"))
	if _, err := strict.Seal(ctx, "acme", sql.NullString{}); !errors.Is(err, field.ErrNull) {
		t.Errorf("Seal(Valid=false) err = %v, want field.ErrNull", err)
	}
	if _, err := e.db.ExecContext(ctx, `INSERT INTO nullnn (id, v) VALUES (1, ?)`, strict.Value(ctx, "acme", sql.NullString{})); !errors.Is(err, field.ErrNull) {
		t.Errorf("INSERT of Valid=false err = %v, want field.ErrNull", err)
	}
	mustExec(t, e.db, `INSERT INTO nullnn (id, v) VALUES (2, NULL)`)
	out := sql.NullString{String: "before", Valid: true}
	if err := e.db.QueryRow(`SELECT v FROM nullnn WHERE id = 2`).Scan(strict.Scan(ctx, "acme", &out)); !errors.Is(err, field.ErrNull) {
		t.Errorf("NotNull Scan(NULL) err = %v, want ErrNull", err)
	}
	if out != (sql.NullString{String: "before", Valid: true}) {
		t.Errorf("after a failed Scan, dst = %+v; want it unchanged", out)
	}
}

// legacyNullString has the JSON shape of sql.NullString, which earlier
// releases sealed for a sql.NullString value.
type legacyNullString struct {
	String string
	Valid  bool
}

// TestNullTypesReadEarlierJSON: values earlier releases sealed as the
// JSON object of the Null struct still read as that struct; a string that
// only looks like JSON stays a string.
func TestNullTypesReadEarlierJSON(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	old := sqltypes.NewColumn[legacyNullString](e.enc, "legacy", "v")
	null := sqltypes.NewColumn[sql.NullString](e.enc, "legacy", "v")
	for _, want := range []sql.NullString{{String: "ann", Valid: true}, {String: "", Valid: false}} {
		stored, err := old.Seal(ctx, "acme", legacyNullString(want))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := null.Open(ctx, "acme", stored); err != nil || got != want {
			t.Errorf("Open(earlier JSON of %+v) = %+v, %v; want it back", want, got, err)
		}
	}
	bare := sqltypes.NewColumn[string](e.enc, "legacy", "v")
	for _, s := range []string{`{"String":"ann"}`, `{"String":"ann","Valid":true} `, `{"Valid":true,"String":"ann"}`, `{`} {
		stored, err := bare.Seal(ctx, "acme", s)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := null.Open(ctx, "acme", stored); err != nil || got != (sql.NullString{String: s, Valid: true}) {
			t.Errorf("Open(string %q) = %+v, %v; want that string, valid", s, got, err)
		}
	}
	// An earlier JSON NullInt64 also reads; a number that is not one fails
	// to decode and names no plaintext.
	oldInt := sqltypes.NewColumn[struct {
		Int64 int64
		Valid bool
	}](e.enc, "legacy", "n")
	stored, err := oldInt.Seal(ctx, "acme", struct {
		Int64 int64
		Valid bool
	}{7, true})
	if err != nil {
		t.Fatal(err)
	}
	n := sqltypes.NewColumn[sql.NullInt64](e.enc, "legacy", "n")
	if got, err := n.Open(ctx, "acme", stored); err != nil || got != (sql.NullInt64{Int64: 7, Valid: true}) {
		t.Errorf("Open(earlier JSON NullInt64) = %+v, %v; want 7, valid", got, err)
	}
	word := sqltypes.NewColumn[string](e.enc, "legacy", "n")
	stored, err = word.Seal(ctx, "acme", "secret-word")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Open(ctx, "acme", stored); !errors.Is(err, sqltypes.ErrDecode) || strings.Contains(err.Error(), "secret-word") {
		t.Errorf("Open(non-number) into NullInt64 err = %v, want ErrDecode without the plaintext", err)
	}
}
