package gormplugin_test

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
)

// NullableContact has database/sql's Null types as encrypted fields.
type NullableContact struct {
	ID       uint
	TenantID string           `colcrypt:"tenant"`
	Nick     sql.Null[string] `gorm:"serializer:colcrypt"`
	Email    sql.NullString   `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
	Visits   sql.NullInt64    `gorm:"serializer:colcrypt"`
	Seen     sql.NullTime     `gorm:"serializer:colcrypt"`
	Code     sql.NullString   `gorm:"serializer:colcrypt" colcrypt:"notnull"`
}

// PlainContact reads the same table with the bare inner types: a valid
// Null value is sealed as its inner value.
type PlainContact struct {
	ID       uint
	TenantID string    `colcrypt:"tenant"`
	Nick     string    `gorm:"serializer:colcrypt"`
	Email    string    `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
	Visits   int64     `gorm:"serializer:colcrypt"`
	Seen     time.Time `gorm:"serializer:colcrypt"`
	Code     string    `gorm:"serializer:colcrypt" colcrypt:"notnull"`
}

func (PlainContact) TableName() string { return "nullable_contacts" }

func sameContact(t *testing.T, what string, got, want NullableContact) {
	t.Helper()
	seen := got.Seen.Valid == want.Seen.Valid && (!want.Seen.Valid || got.Seen.Time.Equal(want.Seen.Time))
	got.Seen, want.Seen = sql.NullTime{}, sql.NullTime{}
	if !seen || got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

// TestNullTypes: sql.Null[string], sql.NullString, sql.NullInt64 and
// sql.NullTime fields store Valid=false as SQL NULL (no ciphertext) and
// read NULL back as Valid=false; valid values are sealed as their inner
// value, read back through the bare types, and match by equality;
// notnull still refuses NULL.
func TestNullTypes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, &NullableContact{})
		ctx := ctxFor("acme")
		when := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
		full := NullableContact{
			Nick:   sql.Null[string]{V: "annie", Valid: true},
			Email:  sql.NullString{String: "ann@example.com", Valid: true},
			Visits: sql.NullInt64{Int64: 0, Valid: true},
			Seen:   sql.NullTime{Time: when, Valid: true},
			Code:   sql.NullString{String: "A1", Valid: true},
		}
		empty := NullableContact{Code: sql.NullString{String: "", Valid: true}}
		for _, c := range []*NullableContact{&full, &empty} {
			if err := e.db.WithContext(ctx).Create(c).Error; err != nil {
				t.Fatalf("Create(%+v) = %v", *c, err)
			}
		}
		for _, col := range []string{"nick", "email", "visits", "seen", "code"} {
			if b := e.rawBytes(t, "nullable_contacts", col, full.ID); !codec.IsValue(b) {
				t.Errorf("stored %s of the valid row = %x, want a colcrypt value", col, b)
			}
		}
		for _, col := range []string{"nick", "email", "visits", "seen"} {
			if b := e.rawBytes(t, "nullable_contacts", col, empty.ID); b != nil {
				t.Errorf("stored %s of Valid=false = %x, want NULL", col, b)
			}
		}
		if b := e.rawBytes(t, "nullable_contacts", "code", empty.ID); !codec.IsValue(b) {
			t.Errorf("stored code of a valid empty string = %x, want a colcrypt value", b)
		}

		for _, want := range []NullableContact{full, empty} {
			got := NullableContact{Nick: sql.Null[string]{V: "stale", Valid: true}}
			if err := e.db.WithContext(ctx).First(&got, want.ID).Error; err != nil {
				t.Fatalf("First(%d) = %v", want.ID, err)
			}
			sameContact(t, "First", got, want)
		}
		var all []NullableContact
		if err := e.db.WithContext(ctx).Order("id").Find(&all).Error; err != nil || len(all) != 2 {
			t.Fatalf("Find = %d rows, %v; want 2", len(all), err)
		}
		sameContact(t, "Find[0]", all[0], full)
		sameContact(t, "Find[1]", all[1], empty)

		var plain PlainContact
		if err := e.db.WithContext(ctx).First(&plain, full.ID).Error; err != nil {
			t.Fatalf("First(PlainContact) = %v", err)
		}
		if plain.Nick != "annie" || plain.Email != "ann@example.com" || plain.Visits != 0 || !plain.Seen.Equal(when) || plain.Code != "A1" {
			t.Errorf("First(PlainContact) = %+v, want the inner values", plain)
		}

		for _, v := range []any{"ann@example.com", sql.NullString{String: "ann@example.com", Valid: true}} {
			var found []NullableContact
			if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", v)).Find(&found).Error; err != nil || len(found) != 1 || found[0].ID != full.ID {
				t.Errorf("Match(Email, %#v) = %d rows, %v; want the valid row", v, len(found), err)
			}
		}

		// Save back to NULL: the column holds NULL again.
		full.Nick = sql.Null[string]{}
		if err := e.db.WithContext(ctx).Save(&full).Error; err != nil {
			t.Fatalf("Save(Nick: NULL) = %v", err)
		}
		if b := e.rawBytes(t, "nullable_contacts", "nick", full.ID); b != nil {
			t.Errorf("stored nick after Save of Valid=false = %x, want NULL", b)
		}
		if err := e.db.WithContext(ctx).Model(&full).Update("Visits", sql.NullInt64{}).Error; err != nil {
			t.Fatalf("Update(Visits, NULL) = %v", err)
		}
		if b := e.rawBytes(t, "nullable_contacts", "visits", full.ID); b != nil {
			t.Errorf("stored visits after Update to Valid=false = %x, want NULL", b)
		}

		// notnull: Valid=false is not written, and an erased value does not
		// read as Valid=false.
		if err := e.db.WithContext(ctx).Create(&NullableContact{}).Error; !errors.Is(err, field.ErrNull) {
			t.Errorf("Create with Code Valid=false: err = %v, want field.ErrNull", err)
		}
		e.exec(t, "UPDATE nullable_contacts SET code = NULL")
		var erased NullableContact
		if err := e.db.WithContext(ctx).First(&erased, full.ID).Error; !errors.Is(err, field.ErrNull) {
			t.Errorf("First after code was set to NULL: err = %v, want field.ErrNull", err)
		}
	})
}
