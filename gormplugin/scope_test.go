package gormplugin_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
)

// TestWriteScope: under field.WithTenant("acme") no write reaches a row
// of globex, whatever form it takes; a statement naming globex fails with
// field.ErrTenantMismatch before any SQL. Each case runs on every
// dialect, on emptied tables, and globex's row must be byte for byte what
// it was.
func TestWriteScope(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		base := newEnv(t, d, envOptions{}, append([]any{&Label{}}, allModels...)...)
		for _, c := range scopeCases {
			t.Run(c.name, func(t *testing.T) {
				e := base.fresh(t, d, "labels", "visits", "patients", "companies", "memos", "legacy_notes")
				c.run(t, newScene(t, e))
			})
		}
	})
}

var scopeCases = []struct {
	name string
	run  func(t *testing.T, s *scene)
}{
	// Delete.
	{"DeleteByIDOfOtherTenant", func(t *testing.T, s *scene) {
		res := s.db.Delete(&Patient{}, s.bob.ID)
		s.wantNoChange(t, res, nil)
	}},
	{"DeleteWhereOtherTenant", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Where("tenant_id = ?", "globex").Delete(&Patient{}))
	}},
	{"DeleteWhereOtherTenantLiteral", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Where("patients.tenant_id IN ?", []string{"acme", "globex"}).Delete(&Patient{}))
	}},
	{"DeleteWhereMapOtherTenant", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Where(map[string]any{"tenant_id": "globex"}).Delete(&Patient{}))
	}},
	{"DeleteRowOfOtherTenant", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Delete(&Patient{ID: s.bob.ID, TenantID: "globex"}))
	}},
	{"DeleteInlineConditionOtherTenant", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Delete(&Patient{}, "tenant_id = ?", "globex"))
	}},
	{"DeleteWithoutConditionStillRefused", func(t *testing.T, s *scene) {
		// The tenant condition must not turn a Delete without conditions
		// into "delete all of acme's rows".
		res := s.db.Delete(&Patient{})
		if !errors.Is(res.Error, gorm.ErrMissingWhereClause) {
			t.Fatalf("Delete(&Patient{}) = %v, want gorm.ErrMissingWhereClause", res.Error)
		}
		s.annUnchanged(t)
	}},
	// Update, Updates, UpdateColumn(s) of plaintext columns.
	{"UpdatePlaintextColumnOfOtherTenant", func(t *testing.T, s *scene) {
		s.wantNoChange(t, s.db.Model(&Patient{}).Where("id = ?", s.bob.ID).Update("email_bidx", []byte("x")), nil)
	}},
	{"UpdatesMapPlaintextOfOtherTenant", func(t *testing.T, s *scene) {
		s.wantNoChange(t, s.db.Model(&Patient{ID: s.bob.ID}).Updates(map[string]any{"email_bidx": []byte("x")}), nil)
	}},
	{"UpdateColumnPlaintextOfOtherTenant", func(t *testing.T, s *scene) {
		s.wantNoChange(t, s.db.Model(&Patient{ID: s.bob.ID}).UpdateColumn("email_bidx", []byte("x")), nil)
	}},
	{"UpdateColumnsPlaintextOfOtherTenant", func(t *testing.T, s *scene) {
		s.wantNoChange(t, s.db.Model(&Patient{}).Where("id = ?", s.bob.ID).UpdateColumns(map[string]any{"email_bidx": []byte("x")}), nil)
	}},
	{"UpdateWhereOtherTenant", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Model(&Patient{}).Where("tenant_id = ?", "globex").Update("email_bidx", []byte("x")))
	}},
	{"UpdatesRowOfOtherTenant", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Model(&Patient{ID: s.bob.ID, TenantID: "globex"}).Updates(map[string]any{"email_bidx": []byte("x")}))
	}},
	{"UpdateRelabelsOwnRow", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Model(&Patient{}).Where("id = ?", s.ann.ID).Update("tenant_id", "globex"))
	}},
	{"UpdatesStructRelabelsOwnRow", func(t *testing.T, s *scene) {
		s.refused(t, s.db.Model(&Patient{ID: s.ann.ID}).Updates(&Patient{TenantID: "globex", EmailBidx: []byte("x")}))
	}},
	{"UpdateBlanksTenant", func(t *testing.T, s *scene) {
		res := s.db.Model(&Patient{}).Where("id = ?", s.ann.ID).Update("tenant_id", "")
		if res.Error != nil {
			t.Fatalf("Update(tenant_id, \"\") = %v", res.Error)
		}
		s.wantTenant(t, s.ann.ID, "acme")
		s.bobUnchanged(t)
	}},
	// Save.
	{"SaveIDOfOtherTenant", func(t *testing.T, s *scene) {
		in := newPatient("Mallory")
		in.ID = s.bob.ID
		err := s.db.Save(&in).Error
		if !errors.Is(err, field.ErrTenantMismatch) {
			t.Fatalf("Save(globex's id) for acme = %v, want ErrTenantMismatch", err)
		}
		s.bothUnchanged(t)
	}},
	{"SaveIDOfOtherTenantWithoutTransaction", func(t *testing.T, s *scene) {
		// Without GORM's transaction nothing rolls back: the upsert itself
		// must leave globex's row alone.
		in := newPatient("Mallory")
		in.ID = s.bob.ID
		err := s.db.Session(&gorm.Session{SkipDefaultTransaction: true}).Save(&in).Error
		if !errors.Is(err, field.ErrTenantMismatch) {
			t.Fatalf("Save(globex's id) for acme = %v, want ErrTenantMismatch", err)
		}
		s.bothUnchanged(t)
	}},
	{"SaveIDOfOtherTenantPlaintextModel", func(t *testing.T, s *scene) {
		theirs := Label{Text: "globex's"}
		if err := s.e.db.WithContext(ctxFor("globex")).Create(&theirs).Error; err != nil {
			t.Fatalf("Create(Label) = %v", err)
		}
		before := s.e.storedRow(t, "labels", theirs.ID)
		err := s.db.Session(&gorm.Session{SkipDefaultTransaction: true}).Save(&Label{ID: theirs.ID, Text: "mine now"}).Error
		if !errors.Is(err, field.ErrTenantMismatch) {
			t.Fatalf("Save(globex's Label id) for acme = %v, want ErrTenantMismatch", err)
		}
		sameRow(t, "globex's label", s.e.storedRow(t, "labels", theirs.ID), before)
	}},
	{"SaveUnchangedOwnRowPlaintextModel", func(t *testing.T, s *scene) {
		// MySQL reports 0 rows for an UPDATE that changes nothing, so Save
		// goes on to the upsert: it must not fail for the tenant's own row.
		mine := Label{Text: "acme's"}
		if err := s.db.Create(&mine).Error; err != nil || mine.TenantID != "acme" {
			t.Fatalf("Create(Label) = %v, tenant %q; want acme filled in", err, mine.TenantID)
		}
		if err := s.db.Save(&mine).Error; err != nil {
			t.Fatalf("Save(own unchanged Label) = %v", err)
		}
		mine.TenantID = ""
		if err := s.db.Save(&mine).Error; err != nil || mine.TenantID != "acme" {
			t.Fatalf("Save(own Label, empty tenant) = %v, tenant %q; want acme", err, mine.TenantID)
		}
		if got := string(s.e.rawBytes(t, "labels", "tenant_id", mine.ID)); got != "acme" {
			t.Fatalf("label tenant_id = %q, want acme", got)
		}
	}},
	{"SoftDeleteOfOtherTenant", func(t *testing.T, s *scene) {
		theirs := Label{Text: "globex's"}
		if err := s.e.db.WithContext(ctxFor("globex")).Create(&theirs).Error; err != nil {
			t.Fatalf("Create(Label) = %v", err)
		}
		before := s.e.storedRow(t, "labels", theirs.ID)
		if res := s.db.Delete(&Label{}, theirs.ID); res.Error != nil || res.RowsAffected != 0 {
			t.Fatalf("soft Delete(globex's Label) for acme = %d rows, %v; want 0, nil", res.RowsAffected, res.Error)
		}
		if err := s.db.Delete(&Label{}).Error; !errors.Is(err, gorm.ErrMissingWhereClause) {
			t.Fatalf("soft Delete(&Label{}) = %v, want gorm.ErrMissingWhereClause", err)
		}
		s.rec.reset()
		if err := s.db.Delete(&Label{ID: theirs.ID, TenantID: "globex"}).Error; !errors.Is(err, field.ErrTenantMismatch) {
			t.Fatalf("soft Delete(globex's Label row) for acme = %v, want ErrTenantMismatch", err)
		}
		if sent := s.rec.statements(); len(sent) != 0 {
			t.Fatalf("soft Delete(globex's Label row) for acme sent %q, want no SQL", sent)
		}
		sameRow(t, "globex's label", s.e.storedRow(t, "labels", theirs.ID), before)
	}},
	{"SaveSliceWithIDOfOtherTenant", func(t *testing.T, s *scene) {
		in := []Patient{newPatient("Mallory")}
		in[0].ID = s.bob.ID
		err := s.db.Save(&in).Error
		if !errors.Is(err, field.ErrTenantMismatch) {
			t.Fatalf("Save([]Patient{globex's id}) for acme = %v, want ErrTenantMismatch", err)
		}
		s.bothUnchanged(t)
	}},
	{"SaveOwnRowWithEmptyTenant", func(t *testing.T, s *scene) {
		var ann Patient
		if err := s.db.First(&ann, s.ann.ID).Error; err != nil {
			t.Fatalf("First = %v", err)
		}
		ann.TenantID, ann.Name = "", "Anne"
		if err := s.db.Save(&ann).Error; err != nil {
			t.Fatalf("Save(own row, empty tenant) = %v", err)
		}
		if ann.TenantID != "acme" {
			t.Fatalf("after Save TenantID = %q, want acme filled in", ann.TenantID)
		}
		s.wantTenant(t, s.ann.ID, "acme")
		var got Patient
		if err := s.db.First(&got, s.ann.ID).Error; err != nil || got.Name != "Anne" {
			t.Fatalf("First after Save = %q, %v; want Anne", got.Name, err)
		}
		s.bobUnchanged(t)
	}},
	{"SaveNewRowWithIDStillInserts", func(t *testing.T, s *scene) {
		// The upsert stays an upsert for the tenant's own rows.
		in := newPatient("Cy")
		in.ID = s.bob.ID + 100
		if err := s.db.Save(&in).Error; err != nil {
			t.Fatalf("Save(new row with an id) = %v", err)
		}
		s.wantTenant(t, in.ID, "acme")
		s.bothUnchanged(t)
	}},
	{"NoContextTenantIsNotScoped", func(t *testing.T, s *scene) {
		// Documented behaviour, unchanged: without a tenant in the context
		// the statement's own conditions decide.
		unscoped := s.e.db.Session(&gorm.Session{Logger: s.rec})
		res := unscoped.Model(&Patient{}).Where("tenant_id = ?", "globex").Update("email_bidx", []byte("x"))
		if res.Error != nil || res.RowsAffected != 1 {
			t.Fatalf("Update without a context tenant = %d rows, %v; want 1, nil", res.RowsAffected, res.Error)
		}
		s.annUnchanged(t)
	}},
	// Conditions on encrypted columns that cannot be rewritten into an
	// index lookup (rewrite_test.go has the ones that can).
	{"WhereEncryptedColumnRefused", func(t *testing.T, s *scene) {
		for _, q := range []struct {
			name string
			run  func(*gorm.DB) *gorm.DB
		}{
			{"Where", func(db *gorm.DB) *gorm.DB { return db.Where("name = ?", s.bob.Name).Find(&[]Patient{}) }},
			{"WhereQualifiedQuoted", func(db *gorm.DB) *gorm.DB {
				return db.Where(`"patients"."SSN" = ? OR `+"`patients`.`name`"+` = ?`, s.bob.SSN, s.bob.Name).Find(&[]Patient{})
			}},
			{"WhereAfterComment", func(db *gorm.DB) *gorm.DB {
				return db.Where("id = 0 /* it's */ OR email = ?", s.bob.Email).Find(&[]Patient{})
			}},
			{"ColumnAsArgument", func(db *gorm.DB) *gorm.DB {
				return db.Where("? = ?", clause.Column{Table: "patients", Name: "email"}, s.bob.Email).Find(&[]Patient{})
			}},
			{"FirstInline", func(db *gorm.DB) *gorm.DB { return db.First(&Patient{}, "name = ?", s.bob.Name) }},
			{"WhereMap", func(db *gorm.DB) *gorm.DB {
				return db.Where(map[string]any{"name": s.bob.Name}).Find(&[]Patient{})
			}},
			{"WhereStruct", func(db *gorm.DB) *gorm.DB { return db.Where(&Patient{Name: s.bob.Name}).Find(&[]Patient{}) }},
			{"Count", func(db *gorm.DB) *gorm.DB {
				var n int64
				return db.Model(&Patient{}).Where("name = ?", s.bob.Name).Count(&n)
			}},
			{"Delete", func(db *gorm.DB) *gorm.DB { return db.Where("name = ?", s.bob.Name).Delete(&Patient{}) }},
			{"Update", func(db *gorm.DB) *gorm.DB {
				return db.Model(&Patient{}).Where("notes = ?", s.bob.Notes).Update("email_bidx", []byte("x"))
			}},
		} {
			for _, db := range []*gorm.DB{s.db, s.e.db.Session(&gorm.Session{Logger: s.rec})} { // with and without a tenant
				s.rec.reset()
				err := q.run(db).Error
				var fe *gormplugin.FieldError
				if !errors.Is(err, gormplugin.ErrUnsearchable) || !errors.As(err, &fe) {
					t.Fatalf("%s on an encrypted column = %v, want a FieldError matching ErrUnsearchable", q.name, err)
				}
				if sent := s.rec.statements(); len(sent) != 0 {
					t.Fatalf("%s on an encrypted column sent %q, want no SQL", q.name, sent)
				}
				for _, secret := range []string{s.bob.Email, s.bob.Name, s.bob.SSN, s.bob.Notes} {
					if bytes.Contains([]byte(err.Error()), []byte(secret)) {
						t.Fatalf("%s: error %q holds the plaintext", q.name, err)
					}
				}
			}
		}
		s.bothUnchanged(t)
	}},
	{"WhereLiteralMentioningEncryptedColumn", func(t *testing.T, s *scene) {
		// A literal that says "email" is not a reference to the column, and
		// Match's own conditions are let through.
		var ps []Patient
		if err := s.db.Where("tenant_id <> 'email' AND tenant_id = ?", "acme").Find(&ps).Error; err != nil || len(ps) != 1 {
			t.Fatalf("Where(literal 'email') = %d rows, %v; want 1, nil", len(ps), err)
		}
		// IS NULL sends no value.
		if err := s.db.Where("tenant_id = ? AND age IS NOT NULL AND notes is null", "acme").Find(&ps).Error; err != nil || len(ps) != 0 {
			t.Fatalf("Where(IS [NOT] NULL) = %d rows, %v; want 0, nil", len(ps), err)
		}
		if err := s.db.Where(map[string]any{"tenant_id": "acme", "notes": nil}).Find(&ps).Error; err != nil || len(ps) != 0 {
			t.Fatalf("Where(map{notes: nil}) = %d rows, %v; want 0, nil", len(ps), err)
		}
		if n := s.e.matchCount(t, s.ctx, "SSN", s.ann.SSN); n != 1 {
			t.Fatalf("Match(SSN) = %d rows, want 1", n)
		}
	}},
}

// Label has a tenant and no encrypted column: its writes are scoped too.
// Its Delete is GORM's soft delete, an UPDATE.
type Label struct {
	ID        uint
	TenantID  string `gorm:"size:64" colcrypt:"tenant"`
	Text      string
	DeletedAt gorm.DeletedAt
}

// scene is acme's Ann and globex's Bob, and a *gorm.DB for acme that
// records the SQL it sends.
type scene struct {
	e        *env
	ctx      context.Context
	db       *gorm.DB
	rec      *sqlRecorder
	ann, bob Patient
	annRow   [][]byte
	bobRow   [][]byte
}

func newScene(t *testing.T, e *env) *scene {
	t.Helper()
	s := &scene{e: e, ctx: ctxFor("acme"), rec: &sqlRecorder{}}
	s.ann, s.bob = newPatient("Ann"), newPatient("Bob")
	e.create(t, "acme", &s.ann)
	e.create(t, "globex", &s.bob)
	s.annRow = e.storedRow(t, "patients", s.ann.ID)
	s.bobRow = e.storedRow(t, "patients", s.bob.ID)
	s.db = e.db.Session(&gorm.Session{Logger: s.rec}).WithContext(s.ctx)
	return s
}

// refused checks that a statement failed with the tenant mismatch, sent
// no SQL, and changed no row.
func (s *scene) refused(t *testing.T, res *gorm.DB) {
	t.Helper()
	if !errors.Is(res.Error, field.ErrTenantMismatch) {
		t.Fatalf("statement naming globex for acme = %v, want ErrTenantMismatch", res.Error)
	}
	var fe *gormplugin.FieldError
	if !errors.As(res.Error, &fe) || fe.Field != "TenantID" {
		t.Fatalf("statement naming globex for acme = %v, want a FieldError on TenantID", res.Error)
	}
	if sent := s.rec.statements(); len(sent) != 0 {
		t.Fatalf("statement naming globex for acme sent %q, want no SQL", sent)
	}
	s.bothUnchanged(t)
}

// wantNoChange checks that a statement for acme aimed at Bob's row
// returned err and changed no row.
func (s *scene) wantNoChange(t *testing.T, res *gorm.DB, err error) {
	t.Helper()
	if !errors.Is(res.Error, err) || res.RowsAffected != 0 {
		t.Fatalf("statement on globex's row for acme = %d rows, %v; want 0, %v", res.RowsAffected, res.Error, err)
	}
	s.bothUnchanged(t)
}

func (s *scene) bothUnchanged(t *testing.T) {
	t.Helper()
	s.annUnchanged(t)
	s.bobUnchanged(t)
}

func (s *scene) annUnchanged(t *testing.T) {
	t.Helper()
	sameRow(t, "acme's row", s.e.storedRow(t, "patients", s.ann.ID), s.annRow)
}

func (s *scene) bobUnchanged(t *testing.T) {
	t.Helper()
	sameRow(t, "globex's row", s.e.storedRow(t, "patients", s.bob.ID), s.bobRow)
}

func sameRow(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d columns, want %d (deleted?)", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
			t.Fatalf("%s: column %d changed", what, i)
		}
	}
}

// wantTenant checks the tenant column of a patients row as stored.
func (s *scene) wantTenant(t *testing.T, id uint, tenant string) {
	t.Helper()
	if got := string(s.e.rawBytes(t, "patients", "tenant_id", id)); got != tenant {
		t.Fatalf("row %d: tenant_id = %q, want %q", id, got, tenant)
	}
}

// storedRow returns every column of one row as the database holds it,
// nil for a missing row.
func (e *env) storedRow(t testing.TB, table string, id uint) [][]byte {
	t.Helper()
	rows, err := e.raw.Query("SELECT * FROM "+table+" WHERE id = "+e.ph(1), id)
	if err != nil {
		t.Fatalf("SELECT * FROM %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		return nil
	}
	out := make([][]byte, len(cols))
	ptrs := make([]any, len(cols))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatalf("scan %s row: %v", table, err)
	}
	return out
}

// sqlRecorder is a GORM logger that records the statements GORM sends.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

var _ logger.Interface = (*sqlRecorder)(nil)

func (r *sqlRecorder) LogMode(logger.LogLevel) logger.Interface { return r }
func (r *sqlRecorder) Info(context.Context, string, ...any)     {}
func (r *sqlRecorder) Warn(context.Context, string, ...any)     {}
func (r *sqlRecorder) Error(context.Context, string, ...any)    {}

func (r *sqlRecorder) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	r.mu.Lock()
	r.sql = append(r.sql, sql)
	r.mu.Unlock()
}

func (r *sqlRecorder) statements() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sql...)
}

func (r *sqlRecorder) reset() {
	r.mu.Lock()
	r.sql = nil
	r.mu.Unlock()
}
