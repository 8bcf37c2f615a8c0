package gormplugin_test

import (
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
)

// BoundRecord binds two encrypted fields to ExternalID, a key the
// application sets before the insert. The encrypted columns come before
// ExternalID and the tenant, so SELECT * reads the ciphertext first.
type BoundRecord struct {
	ID         uint
	Secret     string `gorm:"serializer:colcrypt" colcrypt:"bind:ExternalID"`
	Card       string `gorm:"serializer:colcrypt" colcrypt:"armor,deterministic,bind:ExternalID"`
	Note       string `gorm:"serializer:colcrypt"` // unbound
	ExternalID string `gorm:"size:64"`
	TenantID   string `colcrypt:"tenant"`
}

// BoundNumbered binds to an integer natural key, read before the value.
type BoundNumbered struct {
	ID       uint
	Number   int64
	TenantID string `colcrypt:"tenant"`
	Secret   string `gorm:"serializer:colcrypt" colcrypt:"bind:Number"`
}

// extUUID is a UUID type like github.com/google/uuid.UUID: a [16]byte
// stored as its text form.
type extUUID [16]byte

func (u extUUID) Value() (driver.Value, error) {
	b := hex.EncodeToString(u[:])
	return b[0:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:], nil
}

func (u *extUUID) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("extUUID: cannot scan %T", src)
	}
	_, err := hex.Decode(u[:], []byte(strings.ReplaceAll(s, "-", "")))
	return err
}

// BoundUUID binds to a UUID field, stored after the value.
type BoundUUID struct {
	ID       uint
	Secret   string  `gorm:"serializer:colcrypt" colcrypt:"bind:Key"`
	Key      extUUID `gorm:"size:36"`
	TenantID string  `colcrypt:"tenant"`
}

// Misused bindings.
type BadBindMissing struct {
	ID     uint
	Secret string `gorm:"serializer:colcrypt" colcrypt:"bind:Nowhere"`
}

type BadBindTenant struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	Secret   string `gorm:"serializer:colcrypt" colcrypt:"bind:TenantID"`
}

type BadBindType struct {
	ID     uint
	Ratio  float64
	Secret string `gorm:"serializer:colcrypt" colcrypt:"bind:Ratio"`
}

type BadBindEncrypted struct {
	ID     uint
	Other  string `gorm:"serializer:colcrypt"`
	Secret string `gorm:"serializer:colcrypt" colcrypt:"bind:Other"`
}

// TestRowBinding: bound fields round-trip whatever the SELECT order; a
// bound value copied by SQL into another row of the same tenant fails
// with codec.ErrAuth while an unbound one still opens; an empty bound
// field fails with field.ErrNoRowKey and writes nothing; updates find the
// row key or fail before any SQL.
func TestRowBinding(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, &BoundRecord{}, &BoundNumbered{}, &BoundUUID{})
		acme := ctxFor("acme")
		recs := []BoundRecord{
			{Secret: "s1", Card: "c1", Note: "n1", ExternalID: "ext-1", TenantID: "acme"},
			{Secret: "s2", Card: "c2", Note: "n2", ExternalID: "ext-2", TenantID: "acme"},
		}
		if err := e.db.Create(&recs).Error; err != nil {
			t.Fatalf("Create: %v", err)
		}
		want := func(t *testing.T, got BoundRecord, i int) {
			t.Helper()
			w := recs[i]
			if got.Secret != w.Secret || got.Card != w.Card || got.Note != w.Note || got.ExternalID != w.ExternalID {
				t.Errorf("row %d = %+v, want %+v", i, got, w)
			}
		}

		// Reads: with and without a context tenant, one row and many,
		// maps, and the row key selected after the values.
		for name, db := range map[string]func() []BoundRecord{
			"Find ctx tenant": func() []BoundRecord {
				var out []BoundRecord
				if err := e.db.WithContext(acme).Order("id").Find(&out).Error; err != nil {
					t.Fatalf("Find: %v", err)
				}
				return out
			},
			"Find row tenant": func() []BoundRecord {
				var out []BoundRecord
				if err := e.db.Order("id").Find(&out).Error; err != nil {
					t.Fatalf("Find: %v", err)
				}
				return out
			},
			"Find key last": func() []BoundRecord {
				var out []BoundRecord
				if err := e.db.Select("id", "secret", "card", "note", "tenant_id", "external_id").Order("id").Find(&out).Error; err != nil {
					t.Fatalf("Find: %v", err)
				}
				return out
			},
			"First each": func() []BoundRecord {
				var out []BoundRecord
				for _, r := range recs {
					var got BoundRecord
					if err := e.db.First(&got, r.ID).Error; err != nil {
						t.Fatalf("First: %v", err)
					}
					out = append(out, got)
				}
				return out
			},
		} {
			t.Run(name, func(t *testing.T) {
				got := db()
				if len(got) != 2 {
					t.Fatalf("%d rows, want 2", len(got))
				}
				for i := range got {
					want(t, got[i], i)
				}
			})
		}
		var maps []map[string]any
		if err := e.db.WithContext(acme).Model(&BoundRecord{}).Order("id").Find(&maps).Error; err != nil || len(maps) != 2 || maps[0]["secret"] != "s1" || maps[1]["card"] != "c2" {
			t.Errorf("Find(maps) = %v, %v", maps, err)
		}

		// Copy r1's values into r2 by SQL: the bound ones fail, opaquely.
		e.exec(t, "UPDATE bound_records SET secret = "+e.ph(1)+", card = "+e.ph(2)+", note = "+e.ph(3)+" WHERE id = "+e.ph(4),
			e.rawBytes(t, "bound_records", "secret", recs[0].ID), string(e.rawBytes(t, "bound_records", "card", recs[0].ID)),
			e.rawBytes(t, "bound_records", "note", recs[0].ID), recs[1].ID)
		var moved BoundRecord
		err := e.db.WithContext(acme).First(&moved, recs[1].ID).Error
		if !errors.Is(err, codec.ErrAuth) {
			t.Errorf("First(row holding another row's bound values) err = %v, want codec.ErrAuth", err)
		}
		var notes BoundRecord
		if err := e.db.WithContext(acme).Select("id", "note", "tenant_id").First(&notes, recs[1].ID).Error; err != nil || notes.Note != "n1" {
			t.Errorf("unbound value copied into another row = %q, %v; want it to open as before (n1)", notes.Note, err)
		}

		// A bound field left empty: an error, nothing written.
		bad := BoundRecord{Secret: "s3", TenantID: "acme"}
		if err := e.db.Create(&bad).Error; !errors.Is(err, field.ErrNoRowKey) {
			t.Errorf("Create(empty ExternalID) err = %v, want field.ErrNoRowKey", err)
		}
		if err := e.db.Model(&BoundRecord{}).Create(map[string]any{"Secret": "s", "TenantID": "acme"}).Error; !errors.Is(err, field.ErrNoRowKey) {
			t.Errorf("Create(map without ExternalID) err = %v, want field.ErrNoRowKey", err)
		}
		var n int64
		if err := e.db.Model(&BoundRecord{}).Count(&n).Error; err != nil || n != 2 {
			t.Errorf("rows after refused Creates = %d, %v; want 2", n, err)
		}

		// Updates: through the row (its key), Save, and refused without one.
		r0 := recs[0]
		if err := e.db.Model(&r0).Update("secret", "s1b").Error; err != nil {
			t.Fatalf("Model(row).Update(secret): %v", err)
		}
		r0.Card = "c1b"
		if err := e.db.Save(&r0).Error; err != nil {
			t.Fatalf("Save: %v", err)
		}
		var back BoundRecord
		if err := e.db.First(&back, r0.ID).Error; err != nil || back.Secret != "s1b" || back.Card != "c1b" {
			t.Errorf("after Update and Save = %+v, %v; want secret s1b, card c1b", back, err)
		}
		err = e.db.WithContext(acme).Model(&BoundRecord{}).Where("id = ?", r0.ID).Update("secret", "x").Error
		if !errors.Is(err, field.ErrNoRowKey) {
			t.Errorf("Update(secret) without a row key err = %v, want field.ErrNoRowKey", err)
		}
		// The key from the model row limits the update to that row.
		other := BoundRecord{ID: r0.ID, ExternalID: "ext-2", TenantID: "acme"}
		if res := e.db.Model(&other).Update("secret", "x"); res.Error != nil || res.RowsAffected != 0 {
			t.Errorf("Update through a row whose key is not the stored one = %d rows, %v; want 0 rows", res.RowsAffected, res.Error)
		}
		if err := e.db.First(&back, r0.ID).Error; err != nil || back.Secret != "s1b" {
			t.Errorf("after the refused update = %+v, %v; want secret s1b", back, err)
		}

		// Raw scans are not followed: the key column must come first.
		var raw1 BoundRecord
		if err := e.db.WithContext(acme).Raw("SELECT id, external_id, tenant_id, secret FROM bound_records WHERE id = ?", r0.ID).Scan(&raw1).Error; err != nil || raw1.Secret != "s1b" {
			t.Errorf("Raw(key first).Scan = %+v, %v; want secret s1b", raw1, err)
		}
		var raw2 BoundRecord
		if err := e.db.WithContext(acme).Raw("SELECT id, secret, external_id, tenant_id FROM bound_records WHERE id = ?", r0.ID).Scan(&raw2).Error; !errors.Is(err, field.ErrNoRowKey) || raw2.Secret != "" {
			t.Errorf("Raw(key last).Scan = %+v, %v; want field.ErrNoRowKey and no value", raw2, err)
		}

		// The row key not selected: an error, not a zero value.
		var partial []BoundRecord
		if err := e.db.WithContext(acme).Select("id", "secret", "tenant_id").Find(&partial).Error; !errors.Is(err, field.ErrNoRowKey) {
			t.Errorf("Find without the bound column err = %v, want field.ErrNoRowKey", err)
		}

		// A bound deterministic value differs from row to row: Match
		// refuses it rather than find nothing.
		var found []BoundRecord
		if err := e.db.WithContext(acme).Scopes(gormplugin.Match(acme, "Card", "c2")).Find(&found).Error; !errors.Is(err, gormplugin.ErrNotMatchable) {
			t.Errorf("Match(bound deterministic field) err = %v, want ErrNotMatchable", err)
		}

		// An integer key, read before the value.
		nums := []BoundNumbered{{Number: 7, TenantID: "acme", Secret: "seven"}, {Number: 8, TenantID: "acme", Secret: "eight"}}
		if err := e.db.Create(&nums).Error; err != nil {
			t.Fatalf("Create(BoundNumbered): %v", err)
		}
		e.exec(t, "UPDATE bound_numbereds SET secret = "+e.ph(1)+" WHERE id = "+e.ph(2), e.rawBytes(t, "bound_numbereds", "secret", nums[0].ID), nums[1].ID)
		var gotNums []BoundNumbered
		err = e.db.Order("id").Find(&gotNums).Error
		if !errors.Is(err, codec.ErrAuth) {
			t.Errorf("Find(BoundNumbered with a moved value) err = %v, want codec.ErrAuth", err)
		}
		var first BoundNumbered
		if err := e.db.First(&first, nums[0].ID).Error; err != nil || first.Secret != "seven" {
			t.Errorf("First(BoundNumbered) = %+v, %v", first, err)
		}

		// A UUID key: bound in its text form, so a value sealed here
		// opens with the key as a string (what migrate reads).
		uu := []BoundUUID{{Secret: "u1", Key: extUUID{1, 2, 3}, TenantID: "acme"}, {Secret: "u2", Key: extUUID{4, 5, 6}, TenantID: "acme"}}
		if err := e.db.Create(&uu).Error; err != nil {
			t.Fatalf("Create(BoundUUID): %v", err)
		}
		var gotUU []BoundUUID
		if err := e.db.Order("id").Find(&gotUU).Error; err != nil || len(gotUU) != 2 || gotUU[0].Secret != "u1" || gotUU[1].Key != uu[1].Key {
			t.Errorf("Find(BoundUUID) = %+v, %v", gotUU, err)
		}
		raw := e.rawBytes(t, "bound_uuids", "secret", uu[0].ID)
		keyText, _ := uu[0].Key.Value()
		s := field.Scope{Tenant: "acme", Table: "bound_uuids", Column: "secret"}
		if pt, err := e.enc.OpenRow(acme, s, keyText.(string), raw); err != nil || string(pt) != "u1" {
			t.Errorf("OpenRow(UUID value, key as text) = %q, %v; want u1", pt, err)
		}
		e.exec(t, "UPDATE bound_uuids SET secret = "+e.ph(1)+" WHERE id = "+e.ph(2), raw, uu[1].ID)
		var movedUU BoundUUID
		if err := e.db.First(&movedUU, uu[1].ID).Error; !errors.Is(err, codec.ErrAuth) {
			t.Errorf("First(BoundUUID holding another row's value) err = %v, want codec.ErrAuth", err)
		}
	})
}

// TestRowBindingModelErrors: a bind option naming no field, the tenant,
// an encrypted field or a type that is no row key is a model error.
func TestRowBindingModelErrors(t *testing.T) {
	e := newEnv(t, dialects[1], envOptions{})
	for _, m := range []any{&BadBindMissing{}, &BadBindTenant{}, &BadBindType{}, &BadBindEncrypted{}} {
		if err := gormplugin.AutoMigrate(e.db, m); !errors.Is(err, gormplugin.ErrModel) {
			t.Errorf("AutoMigrate(%T) err = %v, want ErrModel", m, err)
		}
	}
}
