package gormplugin_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
)

// TestUpsertSet: an ON CONFLICT DO UPDATE may set an encrypted, blind
// index or bound column only from the inserted row, which the plugin
// sealed; anything else (a plaintext, an expression, another column's
// sealed value, an index value, a condition on an encrypted column) is
// refused before any SQL, the row left as it was. Setting an encrypted
// column from the inserted row brings its blind index along.
func TestUpsertSet(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, append([]any{&BoundRecord{}}, allModels...)...)
		ann := newPatient("Ann")
		e.create(t, "acme", &ann)
		rec := &sqlRecorder{}
		acme := e.db.Session(&gorm.Session{Logger: rec}).WithContext(ctxFor("acme"))
		const secret = "upsert-secret@example.com"
		stored := func() [][]byte {
			var out [][]byte
			for _, col := range []string{"email", "email_bidx", "ssn", "name", "tenant_id"} {
				out = append(out, e.rawBytes(t, "patients", col, ann.ID))
			}
			return out
		}
		before := stored()
		id := []clause.Column{{Name: "id"}}
		for _, c := range []struct {
			name string
			oc   clause.OnConflict
			want error
		}{
			{"Plaintext", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"email": secret})}, gormplugin.ErrUnsupported},
			{"PlaintextByFieldName", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"SSN": secret})}, gormplugin.ErrUnsupported},
			{"QualifiedColumn", clause.OnConflict{Columns: id, DoUpdates: clause.Set{{Column: clause.Column{Name: "patients.ssn"}, Value: secret}}}, gormplugin.ErrUnsupported},
			{"Expression", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"ssn": gorm.Expr("?", secret)})}, gormplugin.ErrUnsupported},
			{"OtherColumnsValue", clause.OnConflict{Columns: id, DoUpdates: clause.Set{{Column: clause.Column{Name: "email"}, Value: clause.Column{Table: "excluded", Name: "name"}}}}, gormplugin.ErrUnsupported},
			{"BlindIndexValue", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"email_bidx": []byte("forged")})}, gormplugin.ErrUnsupported},
			{"Where", clause.OnConflict{Columns: id, DoUpdates: clause.AssignmentColumns([]string{"age"}),
				Where: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "email = ?", Vars: []any{secret}}}}}, gormplugin.ErrUnsearchable},
			{"TargetWhere", clause.OnConflict{Columns: id, DoUpdates: clause.AssignmentColumns([]string{"age"}),
				TargetWhere: clause.Where{Exprs: []clause.Expression{clause.Eq{Column: "ssn", Value: secret}}}}, gormplugin.ErrUnsearchable},
			{"TenantRelabel", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"tenant_id": "globex"})}, field.ErrTenantMismatch},
			{"TenantExpression", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"tenant_id": gorm.Expr("'globex'")})}, field.ErrTenantMismatch},
			{"TenantMisspelled", clause.OnConflict{Columns: id, DoUpdates: clause.Assignments(map[string]any{"TENANT_ID": "globex"})}, gormplugin.ErrUnsupported},
			{"EncryptedMisspelled", clause.OnConflict{Columns: id, DoUpdates: clause.Set{{Column: clause.Column{Name: "EMAIL"}, Value: clause.Column{Table: "excluded", Name: "EMAIL"}}}}, gormplugin.ErrUnsupported},
		} {
			t.Run(c.name, func(t *testing.T) {
				rec.reset()
				p := newPatient("Zed")
				p.ID = ann.ID
				err := acme.Clauses(c.oc).Create(&p).Error
				var fe *gormplugin.FieldError
				if !errors.Is(err, c.want) || !errors.As(err, &fe) {
					t.Fatalf("upsert = %v, want a FieldError matching %v", err, c.want)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q holds the plaintext", err)
				}
				if sent := rec.statements(); len(sent) != 0 {
					t.Fatalf("upsert sent %q, want no SQL", sent)
				}
				for i, b := range stored() {
					if !bytes.Equal(b, before[i]) {
						t.Fatalf("a refused upsert changed column %d of the row", i)
					}
				}
			})
		}

		t.Run("FromInsertedRowKeepsBlindIndex", func(t *testing.T) {
			p := newPatient("Zed")
			p.ID = ann.ID
			if err := acme.Clauses(clause.OnConflict{Columns: id, DoUpdates: clause.AssignmentColumns([]string{"email"})}).Create(&p).Error; err != nil {
				t.Fatalf("upsert(email) = %v", err)
			}
			var got []Patient
			if err := acme.Where("email = ?", p.Email).Find(&got).Error; err != nil || len(got) != 1 || got[0].ID != ann.ID || got[0].Email != p.Email {
				t.Fatalf("Where(new email) after upsert = %+v, %v; want row %d with %q", got, err, ann.ID, p.Email)
			}
			got = nil
			if err := acme.Where("email = ?", ann.Email).Find(&got).Error; err != nil || len(got) != 0 {
				t.Fatalf("Where(old email) after upsert = %d rows, %v; want none: the blind index must follow the value", len(got), err)
			}
		})

		t.Run("BoundField", func(t *testing.T) {
			r := BoundRecord{Secret: "s1", Card: "c1", Note: "n1", ExternalID: "up-ext-1"}
			if err := acme.Create(&r).Error; err != nil {
				t.Fatalf("Create(BoundRecord) = %v", err)
			}
			up := BoundRecord{ID: r.ID, Secret: "s2", Card: "c2", Note: "n2", ExternalID: "up-ext-2"}
			// The inserted row's key is up-ext-2, the row keeps up-ext-1:
			// the value would be sealed for a key the row does not hold.
			err := acme.Clauses(clause.OnConflict{Columns: id, DoUpdates: clause.AssignmentColumns([]string{"secret"})}).Create(&up).Error
			if !errors.Is(err, gormplugin.ErrUnsupported) {
				t.Fatalf("upsert(secret) of a bound field without its key = %v, want ErrUnsupported", err)
			}
			if err := acme.Clauses(clause.OnConflict{Columns: id, DoUpdates: clause.AssignmentColumns([]string{"secret", "card", "external_id"})}).Create(&up).Error; err != nil {
				t.Fatalf("upsert(secret, card, external_id) = %v", err)
			}
			var got BoundRecord
			if err := acme.First(&got, r.ID).Error; err != nil || got.Secret != "s2" || got.ExternalID != "up-ext-2" || got.Card != "c2" || got.Note != "n1" {
				t.Fatalf("row after upsert(secret, card, external_id) = %+v, %v; want s2, c2 under up-ext-2, note n1", got, err)
			}
		})
	})
}
