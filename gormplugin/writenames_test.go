package gormplugin_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/colcrypt/colcrypt/gormplugin"
)

// TestWriteNamesGuardedColumns: a write that names an encrypted or tenant
// column otherwise than the plugin reads it ("patients.email", a quoted
// `"email"`, "Email" in a hand-written SET, "EMAIL" as a map key), which
// the database reads as the same column, is refused with ErrUnsupported
// before any SQL: it used to skip the sealing (the plaintext was stored)
// or the tenant check (a row could be relabelled).
func TestWriteNamesGuardedColumns(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, allModels...)
		ann := newPatient("Ann")
		e.create(t, "acme", &ann)
		rec := &sqlRecorder{}
		acme := e.db.Session(&gorm.Session{Logger: rec}).WithContext(ctxFor("acme"))
		const secret = "spelled-secret@example.com"
		stored := func() [][]byte {
			var out [][]byte
			for _, col := range []string{"email", "email_bidx", "ssn", "tenant_id"} {
				out = append(out, e.rawBytes(t, "patients", col, ann.ID))
			}
			return out
		}
		count := func() int64 {
			var n int64
			if err := e.db.Table("patients").Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		before, rows := stored(), count()
		row := func() *gorm.DB { return acme.Model(&Patient{}).Where("id = ?", ann.ID) }
		for name, run := range map[string]func() *gorm.DB{
			"UpdatesQualified":      func() *gorm.DB { return row().Updates(map[string]any{"patients.email": secret}) },
			"UpdateQuoted":          func() *gorm.DB { return row().Update(`"email"`, secret) },
			"UpdateColumnQualified": func() *gorm.DB { return row().UpdateColumn("patients.ssn", secret) },
			"SetByFieldName": func() *gorm.DB {
				return row().Clauses(clause.Set{{Column: clause.Column{Name: "Email"}, Value: secret}}).Updates(map[string]any{})
			},
			"SetUpperCase": func() *gorm.DB {
				return row().Clauses(clause.Set{{Column: clause.Column{Name: "SSN"}, Value: secret}}).Updates(map[string]any{})
			},
			"SetRaw": func() *gorm.DB {
				return row().Clauses(clause.Set{{Column: clause.Column{Name: "email", Raw: true}, Value: secret}}).Updates(map[string]any{})
			},
			"UpdatesTenantQualified": func() *gorm.DB { return row().Updates(map[string]any{"patients.tenant_id": "globex"}) },
			"CreateMapUpperCase": func() *gorm.DB {
				return acme.Model(&Patient{}).Create(map[string]any{"EMAIL": secret, "name": "x"})
			},
			"CreateMapTenantQualified": func() *gorm.DB {
				return acme.Model(&Patient{}).Create(map[string]any{"patients.tenant_id": "globex", "name": "x"})
			},
		} {
			t.Run(name, func(t *testing.T) {
				rec.reset()
				err := run().Error
				var fe *gormplugin.FieldError
				if !errors.Is(err, gormplugin.ErrUnsupported) || !errors.As(err, &fe) {
					t.Fatalf("%s = %v, want a FieldError matching ErrUnsupported", name, err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q holds the plaintext", err)
				}
				if sent := rec.statements(); len(sent) != 0 {
					t.Fatalf("%s sent %q, want no SQL", name, sent)
				}
				for i, b := range stored() {
					if !bytes.Equal(b, before[i]) {
						t.Fatalf("%s changed column %d of the row", name, i)
					}
				}
				if n := count(); n != rows {
					t.Fatalf("%s: %d rows, want %d", name, n, rows)
				}
			})
		}
		t.Run("FieldNameInMap", func(t *testing.T) {
			// GORM translates a Go field name in Updates' map: sealed.
			if err := row().Updates(map[string]any{"Email": "ann2@example.com"}).Error; err != nil {
				t.Fatalf("Updates(Email) = %v", err)
			}
			var got []Patient
			if err := acme.Where("email = ?", "ann2@example.com").Find(&got).Error; err != nil || len(got) != 1 || got[0].ID != ann.ID {
				t.Fatalf("Where(new email) = %+v, %v; want row %d", got, err, ann.ID)
			}
		})
	})
}
