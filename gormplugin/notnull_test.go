package gormplugin_test

import (
	"errors"
	"testing"

	"github.com/colcrypt/colcrypt/field"
)

// NullableNote has the same encrypted column twice over: Note tolerates
// NULL (an absent value), Diagnosis is tagged notnull.
type NullableNote struct {
	ID        uint
	TenantID  string  `colcrypt:"tenant"`
	Note      string  `gorm:"serializer:colcrypt"`
	Diagnosis *string `gorm:"serializer:colcrypt" colcrypt:"notnull"`
}

// TestNotNullDetectsErasure: NULL is never encrypted, so someone who
// writes the database can erase a value by setting its column to NULL.
// Without notnull the application reads an absent value (documented in
// SECURITY.md); with it, the read fails with field.ErrNull, and the
// application cannot write NULL there itself.
func TestNotNullDetectsErasure(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, &NullableNote{})
		ctx := ctxFor("acme")
		row := NullableNote{Note: "follow up", Diagnosis: ptr("J45.909")}
		if err := e.db.WithContext(ctx).Create(&row).Error; err != nil {
			t.Fatalf("Create = %v", err)
		}

		// The attacker erases both values.
		e.exec(t, "UPDATE nullable_notes SET note = NULL, diagnosis = NULL")

		var got NullableNote
		err := e.db.WithContext(ctx).First(&got, row.ID).Error
		if !errors.Is(err, field.ErrNull) {
			t.Fatalf("First after diagnosis was set to NULL: err = %v, want field.ErrNull", err)
		}

		// Without notnull, NULL is an absent value: the erased note reads
		// as "" with no error (what SECURITY.md says of plain columns).
		got = NullableNote{}
		if err := e.db.WithContext(ctx).Select("id", "tenant_id", "note").First(&got, row.ID).Error; err != nil || got.Note != "" {
			t.Fatalf("First(note) after note was set to NULL = %q, %v; want \"\", nil", got.Note, err)
		}

		// Writing nil into a notnull column is refused, and nothing is written.
		if err := e.db.WithContext(ctx).Create(&NullableNote{Note: "x"}).Error; !errors.Is(err, field.ErrNull) {
			t.Fatalf("Create with nil Diagnosis: err = %v, want field.ErrNull", err)
		}
		var n int64
		if err := e.db.WithContext(ctx).Model(&NullableNote{}).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("Count after refused Create = %d, %v; want 1 row", n, err)
		}
	})
}
