package gormplugin_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/colcrypt/colcrypt/gormplugin"
)

// Lead is a table mid-migration: its encrypted columns still hold
// some plaintext rows (allowplaintext). Email is binary with a blind
// index, Code deterministic in a text column (armor).
type Lead struct {
	ID        uint
	TenantID  string `colcrypt:"tenant"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower,allowplaintext"`
	EmailBidx []byte
	Code      string `gorm:"serializer:colcrypt" colcrypt:"deterministic,armor,allowplaintext"`
}

// Badge has a 4-byte blind index, which matches other values by design.
type Badge struct {
	ID        uint
	TenantID  string `colcrypt:"tenant"`
	Label     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:label_bidx,bidxlen:4"`
	LabelBidx []byte
}

// Ticket is soft-deleted: GORM adds "deleted_at IS NULL" to its
// queries, once per statement.
type Ticket struct {
	ID        uint
	TenantID  string `colcrypt:"tenant"`
	Code      string `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
	DeletedAt gorm.DeletedAt
}

// customCond is a condition type the plugin does not know: it is
// checked by the SQL it builds.
type customCond string

func (c customCond) Build(b clause.Builder) { b.WriteString(string(c)) }

// rewriteScene is acme's Ann and Bob under key version 1, Ann's twin
// (same email and SSN) under version 2 after a rotation, and globex's
// Ann: a lookup must find both of acme's Anns and never globex's.
type rewriteScene struct {
	e              *env
	rec            *sqlRecorder
	db             *gorm.DB // acme, recording its SQL
	ann, bob, twin Patient
	globexAnn      Patient
}

// TestRewrite: equality conditions on deterministic and blind-indexed
// fields return the same rows as Match, across a key rotation, without
// sending the plaintext; other conditions on encrypted columns fail with
// ErrUnsearchable before any SQL; updates and deletes are rewritten the
// same way; rows still in plaintext are found under allowplaintext.
func TestRewrite(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, append([]any{&Lead{}, &Badge{}, &Ticket{}}, allModels...)...)
		s := &rewriteScene{e: e, rec: &sqlRecorder{}}
		s.ann, s.bob = newPatient("Ann"), newPatient("Bob")
		e.create(t, "acme", &s.ann, &s.bob)
		if _, err := e.keys.Rotate(ctxFor("acme"), "acme"); err != nil {
			t.Fatalf("Rotate = %v", err)
		}
		s.twin, s.globexAnn = newPatient("Ann"), newPatient("Ann")
		e.create(t, "acme", &s.twin)
		e.create(t, "globex", &s.globexAnn)
		s.db = e.db.Session(&gorm.Session{Logger: s.rec}).WithContext(ctxFor("acme"))

		t.Run("SameRowsAsMatch", s.sameRowsAsMatch)
		t.Run("Refused", s.refused)
		t.Run("Writes", s.writes)
		t.Run("AllowPlaintext", s.allowPlaintext)
	})
}

// matchIDs returns the ids of the rows Match finds for each value.
func (s *rewriteScene) matchIDs(t *testing.T, tenant, fieldName string, values ...any) []uint {
	t.Helper()
	ctx := ctxFor(tenant)
	var ids []uint
	for _, v := range values {
		var ps []Patient
		if err := s.e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, fieldName, v)).Find(&ps).Error; err != nil {
			t.Fatalf("Match(%s) = %v", fieldName, err)
		}
		for _, p := range ps {
			if !slices.Contains(ids, p.ID) {
				ids = append(ids, p.ID)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func patientIDs(ps []Patient) []uint {
	ids := make([]uint, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

func (s *rewriteScene) sameRowsAsMatch(t *testing.T) {
	ann, bob := s.ann, s.bob
	quoted := `"email" = ?`
	if s.e.dialect == "mysql" {
		quoted = "`email` = ?"
	}
	find := func(f func(db *gorm.DB, ps *[]Patient) *gorm.DB) func(db *gorm.DB) ([]uint, error) {
		return func(db *gorm.DB) ([]uint, error) {
			var ps []Patient
			err := f(db, &ps).Error
			return patientIDs(ps), err
		}
	}
	annEmails := s.matchIDs(t, "acme", "Email", ann.Email)
	if want := []uint{ann.ID, s.twin.ID}; !slices.Equal(annEmails, want) {
		t.Fatalf("Match(Email, ann) = %v, want %v (both key versions, acme only)", annEmails, want)
	}
	for _, c := range []struct {
		name   string
		want   []uint
		values []string // plaintexts that must not reach the SQL
		run    func(db *gorm.DB) ([]uint, error)
	}{
		{"Where", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email = ?", ann.Email).Find(ps)
		})},
		{"WhereNormalized", s.matchIDs(t, "acme", "Email", "  ANN@Example.COM "), []string{"ANN@Example.COM"}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email = ?", "  ANN@Example.COM ").Find(ps)
		})},
		{"WhereQualified", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("patients.email = ? AND id > ?", ann.Email, 0).Find(ps)
		})},
		{"WhereQuoted", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where(quoted, ann.Email).Find(ps)
		})},
		{"WhereReversed", s.matchIDs(t, "acme", "SSN", ann.SSN), []string{ann.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("? = ssn", ann.SSN).Find(ps)
		})},
		{"First", s.matchIDs(t, "acme", "Email", bob.Email), []string{bob.Email}, func(db *gorm.DB) ([]uint, error) {
			var p Patient
			err := db.First(&p, "email = ?", bob.Email).Error
			return []uint{p.ID}, err
		}},
		{"FindInline", s.matchIDs(t, "acme", "SSN", ann.SSN), []string{ann.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Find(ps, "ssn = ?", ann.SSN)
		})},
		{"WhereMap", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where(map[string]any{"email": ann.Email}).Find(ps)
		})},
		{"WhereStruct", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where(&Patient{Email: ann.Email}).Find(ps)
		})},
		{"WhereStructDeterministic", s.matchIDs(t, "acme", "SSN", bob.SSN), []string{bob.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where(&Patient{SSN: bob.SSN}).Find(ps)
		})},
		{"WhereMapList", s.matchIDs(t, "acme", "Email", ann.Email, bob.Email), []string{ann.Email, bob.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where(map[string]any{"email": []string{ann.Email, bob.Email}}).Find(ps)
		})},
		{"InList", s.matchIDs(t, "acme", "Email", ann.Email, bob.Email), []string{ann.Email, bob.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email IN ?", []string{ann.Email, bob.Email}).Find(ps)
		})},
		{"InParens", s.matchIDs(t, "acme", "SSN", ann.SSN, bob.SSN), []string{ann.SSN, bob.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("(ssn IN (?, ?))", ann.SSN, bob.SSN).Find(ps)
		})},
		{"InParensSlice", s.matchIDs(t, "acme", "SSN", bob.SSN), []string{bob.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("ssn IN (?)", []string{bob.SSN}).Find(ps)
		})},
		{"InEmpty", nil, nil, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email IN ?", []string{}).Find(ps)
		})},
		{"OrOfTwoFields", s.matchIDs(t, "acme", "Email", ann.Email, bob.Email), []string{ann.Email, bob.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("id < 0 OR (email = ? OR ssn = ?)", ann.Email, bob.SSN).Find(ps)
		})},
		{"GormOr", s.matchIDs(t, "acme", "Email", ann.Email, bob.Email), []string{ann.Email, bob.SSN}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email = ?", ann.Email).Or("ssn = ?", bob.SSN).Find(ps)
		})},
		{"CustomConditionElsewhere", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where(customCond("patients.id > 0")).Where("email = ?", ann.Email).Find(ps)
		})},
		{"FirstOrCreateFinds", s.matchIDs(t, "acme", "Email", bob.Email), []string{bob.Email}, func(db *gorm.DB) ([]uint, error) {
			var p Patient
			err := db.Where(Patient{Email: bob.Email}).FirstOrCreate(&p).Error
			return []uint{p.ID}, err
		}},
		{"IsNullLeftAlone", nil, nil, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email IS NULL OR ssn = ?", "nobody").Find(ps)
		})},
		{"Unknown", nil, []string{"nobody@example.com"}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("email = ?", "nobody@example.com").Find(ps)
		})},
		{"Joins", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Joins("Company").Where("email = ?", ann.Email).Find(ps)
		})},
		{"SelectList", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Select("patients.id, email AS email, tenant_id").Where("email = ?", ann.Email).Find(ps)
		})},
		{"Subquery", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Where("id IN (?)", db.Model(&Patient{}).Select("id").Where("email = ?", ann.Email)).Find(ps)
		})},
		{"JoinedModelPlainColumn", []uint{ann.ID}, []string{ann.Email}, func(db *gorm.DB) ([]uint, error) {
			if err := db.Create(&Visit{PatientID: ann.ID, Note: "checkup"}).Error; err != nil {
				return nil, err
			}
			var ids []uint
			err := db.Model(&Visit{}).Joins("JOIN patients ON patients.id = visits.patient_id").Where("patients.id = ? AND note IS NOT NULL", ann.ID).Distinct().Pluck("patients.id", &ids).Error
			return ids, err
		}},
		{"TableWithoutModelPlainColumn", []uint{ann.ID}, []string{ann.Email, ann.SSN}, func(db *gorm.DB) ([]uint, error) {
			var ids []uint
			err := db.Table("patients").Where("id = ? AND email IS NOT NULL", ann.ID).Pluck("id", &ids).Error
			return ids, err
		}},
		{"Preload", annEmails, []string{ann.Email}, find(func(db *gorm.DB, ps *[]Patient) *gorm.DB {
			return db.Preload("Visits").Where("email = ?", ann.Email).Find(ps)
		})},
		{"Count", []uint{2}, []string{ann.Email}, func(db *gorm.DB) ([]uint, error) {
			var n int64
			err := db.Model(&Patient{}).Where("email = ?", ann.Email).Count(&n).Error
			return []uint{uint(n)}, err
		}},
		{"CountThenFindOneStatement", annEmails, []string{ann.Email}, func(db *gorm.DB) ([]uint, error) {
			q := db.Model(&Patient{}).Where("email = ?", ann.Email)
			var n int64
			if err := q.Count(&n).Error; err != nil || n != 2 {
				return nil, fmt.Errorf("Count = %d, %v; want 2", n, err)
			}
			var ps []Patient
			err := q.Find(&ps).Error
			return patientIDs(ps), err
		}},
		{"Rows", s.matchIDs(t, "acme", "SSN", ann.SSN), []string{ann.SSN}, func(db *gorm.DB) ([]uint, error) {
			rows, err := db.Model(&Patient{}).Select("id").Where("ssn = ?", ann.SSN).Rows()
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var ids []uint
			for rows.Next() {
				var id uint
				if err := rows.Scan(&id); err != nil {
					return nil, err
				}
				ids = append(ids, id)
			}
			slices.Sort(ids)
			return ids, rows.Err()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.rec.reset()
			got, err := c.run(s.db)
			if err != nil {
				t.Fatalf("%s = %v", c.name, err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("%s = rows %v, want Match's %v", c.name, got, c.want)
			}
			sent := s.rec.statements()
			if len(sent) == 0 {
				t.Fatalf("%s sent no SQL", c.name)
			}
			for _, q := range sent {
				for _, v := range c.values {
					if strings.Contains(q, v) {
						t.Fatalf("%s sent %q, which holds the plaintext %q", c.name, q, v)
					}
				}
			}
		})
	}
	t.Run("OtherTenant", func(t *testing.T) {
		var ps []Patient
		if err := s.e.db.WithContext(ctxFor("globex")).Where("email = ?", s.ann.Email).Find(&ps).Error; err != nil {
			t.Fatalf("Where(email) for globex = %v", err)
		}
		if got, want := patientIDs(ps), s.matchIDs(t, "globex", "Email", s.ann.Email); !slices.Equal(got, want) || !slices.Equal(got, []uint{s.globexAnn.ID}) {
			t.Fatalf("Where(email) for globex = %v, want Match's %v: globex's Ann only", got, want)
		}
	})
	t.Run("NoTenant", func(t *testing.T) {
		// The index is keyed by the tenant's key: without a tenant there is
		// nothing to look up with.
		var ps []Patient
		err := s.e.db.Where("email = ?", s.ann.Email).Find(&ps).Error
		var fe *gormplugin.FieldError
		if err == nil || !errors.As(err, &fe) {
			t.Fatalf("Where(email) without a tenant = %v, want a FieldError (no tenant)", err)
		}
	})
}

func (s *rewriteScene) refused(t *testing.T) {
	ann := s.ann
	for _, c := range []struct {
		name string
		run  func(db *gorm.DB) *gorm.DB
	}{
		{"Like", func(db *gorm.DB) *gorm.DB { return db.Where("email LIKE ?", "ann%").Find(&[]Patient{}) }},
		{"Less", func(db *gorm.DB) *gorm.DB { return db.Where("ssn < ?", ann.SSN).Find(&[]Patient{}) }},
		{"Greater", func(db *gorm.DB) *gorm.DB { return db.Where("ssn > ?", ann.SSN).Find(&[]Patient{}) }},
		{"LessOrEqual", func(db *gorm.DB) *gorm.DB { return db.Where("email <= ?", ann.Email).Find(&[]Patient{}) }},
		{"GreaterOrEqual", func(db *gorm.DB) *gorm.DB { return db.Where("email >= ?", ann.Email).Find(&[]Patient{}) }},
		{"Between", func(db *gorm.DB) *gorm.DB {
			return db.Where("ssn BETWEEN ? AND ?", ann.SSN, ann.SSN).Find(&[]Patient{})
		}},
		{"BetweenHidingEquality", func(db *gorm.DB) *gorm.DB {
			return db.Where("id BETWEEN ? AND ssn = ?", 0, ann.SSN).Find(&[]Patient{})
		}},
		{"NotEqual", func(db *gorm.DB) *gorm.DB { return db.Where("email <> ?", ann.Email).Find(&[]Patient{}) }},
		{"BangEqual", func(db *gorm.DB) *gorm.DB { return db.Where("ssn != ?", ann.SSN).Find(&[]Patient{}) }},
		{"NotText", func(db *gorm.DB) *gorm.DB { return db.Where("NOT (email = ?)", ann.Email).Find(&[]Patient{}) }},
		{"NotIn", func(db *gorm.DB) *gorm.DB {
			return db.Where("email NOT IN ?", []string{ann.Email}).Find(&[]Patient{})
		}},
		{"GormNot", func(db *gorm.DB) *gorm.DB { return db.Not("email = ?", ann.Email).Find(&[]Patient{}) }},
		{"GormNotMap", func(db *gorm.DB) *gorm.DB {
			return db.Not(map[string]any{"ssn": ann.SSN}).Find(&[]Patient{})
		}},
		{"Randomized", func(db *gorm.DB) *gorm.DB { return db.Where("name = ?", ann.Name).Find(&[]Patient{}) }},
		{"RandomizedStruct", func(db *gorm.DB) *gorm.DB {
			return db.Where(&Patient{Email: ann.Email, Name: ann.Name}).Find(&[]Patient{})
		}},
		{"RandomizedMap", func(db *gorm.DB) *gorm.DB { return db.Where(map[string]any{"age": 43}).Find(&[]Patient{}) }},
		{"Function", func(db *gorm.DB) *gorm.DB { return db.Where("lower(email) = ?", ann.Email).Find(&[]Patient{}) }},
		{"Expression", func(db *gorm.DB) *gorm.DB { return db.Where("email = ? || ''", ann.Email).Find(&[]Patient{}) }},
		{"Literal", func(db *gorm.DB) *gorm.DB { return db.Where("email = '" + ann.Email + "'").Find(&[]Patient{}) }},
		{"Comment", func(db *gorm.DB) *gorm.DB { return db.Where("email = ? -- note", ann.Email).Find(&[]Patient{}) }},
		{"QuestionMarkInLiteral", func(db *gorm.DB) *gorm.DB {
			return db.Where("id <> '?' AND email = ?", ann.Email).Find(&[]Patient{})
		}},
		{"Named", func(db *gorm.DB) *gorm.DB {
			return db.Where("email = @e", sql.Named("e", ann.Email)).Find(&[]Patient{})
		}},
		{"RowValue", func(db *gorm.DB) *gorm.DB {
			return db.Where("(email, ssn) = (?, ?)", ann.Email, ann.SSN).Find(&[]Patient{})
		}},
		{"ColumnToColumn", func(db *gorm.DB) *gorm.DB { return db.Where("email = ssn").Find(&[]Patient{}) }},
		{"OtherTable", func(db *gorm.DB) *gorm.DB { return db.Where("companies.email = ?", ann.Email).Find(&[]Patient{}) }},
		{"InNotAList", func(db *gorm.DB) *gorm.DB { return db.Where("email IN ?", ann.Email).Find(&[]Patient{}) }},
		{"EqualsAList", func(db *gorm.DB) *gorm.DB {
			return db.Where("email = ?", []string{ann.Email}).Find(&[]Patient{})
		}},
		{"EqualsSQL", func(db *gorm.DB) *gorm.DB {
			return db.Where("email = ?", gorm.Expr("lower(?)", ann.Email)).Find(&[]Patient{})
		}},
		{"MapValueSQL", func(db *gorm.DB) *gorm.DB {
			return db.Where(map[string]any{"email": gorm.Expr("lower(?)", ann.Email)}).Find(&[]Patient{})
		}},
		{"ClauseLike", func(db *gorm.DB) *gorm.DB {
			return db.Where(clause.Like{Column: "email", Value: ann.Email}).Find(&[]Patient{})
		}},
		{"ClauseEqOnExpression", func(db *gorm.DB) *gorm.DB {
			return db.Where(clause.Eq{Column: clause.Expr{SQL: "email"}, Value: ann.Email}).Find(&[]Patient{})
		}},
		{"ClauseGt", func(db *gorm.DB) *gorm.DB {
			return db.Where(clause.Gt{Column: clause.Column{Name: "ssn"}, Value: ann.SSN}).Find(&[]Patient{})
		}},
		{"CustomCondition", func(db *gorm.DB) *gorm.DB {
			return db.Where(customCond("lower(patients.email) <> ''")).Find(&[]Patient{})
		}},
		{"OrderBy", func(db *gorm.DB) *gorm.DB { return db.Order("email").Find(&[]Patient{}) }},
		{"OrderByDesc", func(db *gorm.DB) *gorm.DB { return db.Order("id, ssn DESC").Find(&[]Patient{}) }},
		{"OrderByColumn", func(db *gorm.DB) *gorm.DB {
			return db.Order(clause.OrderByColumn{Column: clause.Column{Name: "name"}}).Find(&[]Patient{})
		}},
		{"GroupBy", func(db *gorm.DB) *gorm.DB {
			var n []int64
			return db.Model(&Patient{}).Select("count(*)").Group("ssn").Find(&n)
		}},
		{"Having", func(db *gorm.DB) *gorm.DB {
			return db.Model(&Patient{}).Select("id").Group("id").Having("max(ssn) = ?", ann.SSN).Find(&[]Patient{})
		}},
		{"Count", func(db *gorm.DB) *gorm.DB {
			var n int64
			return db.Model(&Patient{}).Where("email LIKE ?", "%").Count(&n)
		}},
		{"Rows", func(db *gorm.DB) *gorm.DB {
			rows, err := db.Model(&Patient{}).Where("ssn > ?", "").Rows()
			if err == nil {
				rows.Close()
			}
			return &gorm.DB{Error: err}
		}},
		{"DeleteLike", func(db *gorm.DB) *gorm.DB { return db.Where("email LIKE ?", "%").Delete(&Patient{}) }},
		{"UpdateGreater", func(db *gorm.DB) *gorm.DB {
			return db.Model(&Patient{}).Where("ssn > ?", "").Update("email_bidx", []byte("x"))
		}},
		{"NullSafeEqual", func(db *gorm.DB) *gorm.DB { return db.Where("email <=> ?", ann.Email).Find(&[]Patient{}) }},
		{"IsDistinctFrom", func(db *gorm.DB) *gorm.DB {
			return db.Where("email IS DISTINCT FROM ?", ann.Email).Find(&[]Patient{})
		}},
		{"IsNotDistinctFrom", func(db *gorm.DB) *gorm.DB {
			return db.Where("email IS NOT DISTINCT FROM ?", ann.Email).Find(&[]Patient{})
		}},
		{"SQLiteIs", func(db *gorm.DB) *gorm.DB { return db.Where("email IS ?", ann.Email).Find(&[]Patient{}) }},
		{"Collate", func(db *gorm.DB) *gorm.DB {
			return db.Where("email = ? COLLATE nocase", ann.Email).Find(&[]Patient{})
		}},
		{"JoinOn", func(db *gorm.DB) *gorm.DB {
			return db.Joins("JOIN patients p2 ON p2.id = patients.id AND patients.email = ?", ann.Email).Find(&[]Patient{})
		}},
		{"UnicodeEscapedName", func(db *gorm.DB) *gorm.DB { return db.Where(`U&"\0065mail" = ?`, ann.Email).Find(&[]Patient{}) }},
		{"UnicodeEscapedNameUEscape", func(db *gorm.DB) *gorm.DB {
			return db.Where(`U&"!0073sn" UESCAPE '!' = ?`, ann.SSN).Find(&[]Patient{})
		}},
		{"ArrayOfColumn", func(db *gorm.DB) *gorm.DB {
			return db.Where("ARRAY[ email ] = ARRAY[ ? ]", ann.Email).Find(&[]Patient{})
		}},
		{"DollarQuoted", func(db *gorm.DB) *gorm.DB {
			// Postgres: ssn = ? between two strings "'", not inside one.
			return db.Where("tenant_id = $q$'$q$ OR ssn = ? OR tenant_id = $q$'$q$", ann.SSN).Find(&[]Patient{})
		}},
		{"SelectWithValue", func(db *gorm.DB) *gorm.DB {
			var out []map[string]any
			return db.Model(&Patient{}).Select("id, CASE WHEN email = ? THEN 1 ELSE 0 END AS hit", ann.Email).Find(&out)
		}},
		{"SelectLiteral", func(db *gorm.DB) *gorm.DB {
			return db.Select("id, ssn = '" + ann.SSN + "' AS hit").Find(&[]Patient{})
		}},
		{"SelectByHand", func(db *gorm.DB) *gorm.DB {
			return db.Clauses(clause.Select{Columns: []clause.Column{{Name: "id"}, {Name: "lower(email) = 'x'", Raw: true}}}).Find(&[]Patient{})
		}},
		{"Subquery", func(db *gorm.DB) *gorm.DB {
			// GORM drops a subquery's error: SQLite ran "IN ()" as no rows.
			return db.Where("id IN (?)", db.Model(&Patient{}).Select("id").Where("email LIKE ?", "ann%")).Find(&[]Patient{})
		}},
		{"SubqueryInMap", func(db *gorm.DB) *gorm.DB {
			return db.Model(&Visit{}).Where(map[string]any{"patient_id": db.Model(&Patient{}).Select("id").Where("ssn > ?", ann.SSN)}).Find(&[]Visit{})
		}},
		{"JoinedModelColumn", func(db *gorm.DB) *gorm.DB {
			return db.Model(&Visit{}).Joins("JOIN patients ON patients.id = visits.patient_id").Where("patients.ssn = ?", ann.SSN).Find(&[]Visit{})
		}},
		{"JoinedModelBareColumn", func(db *gorm.DB) *gorm.DB {
			// visits has no ssn column: the database reads patients.ssn.
			return db.Model(&Visit{}).Joins("JOIN patients ON patients.id = visits.patient_id").Where("ssn = ?", ann.SSN).Find(&[]Visit{})
		}},
		{"JoinedModelOnValue", func(db *gorm.DB) *gorm.DB {
			return db.Model(&Visit{}).Joins("JOIN patients ON patients.id = visits.patient_id AND patients.email = ?", ann.Email).Find(&[]Visit{})
		}},
		{"TableWithoutModel", func(db *gorm.DB) *gorm.DB {
			return db.Table("patients").Where("ssn = ?", ann.SSN).Find(&[]map[string]any{})
		}},
		{"TableWithoutModelMap", func(db *gorm.DB) *gorm.DB {
			var n int64
			return db.Table("patients").Where(map[string]any{"email": ann.Email}).Count(&n)
		}},
		{"TableWithoutModelUpdate", func(db *gorm.DB) *gorm.DB {
			return db.Table("patients").Where("email = ?", ann.Email).Update("company_id", nil)
		}},
		{"TableWithoutModelDelete", func(db *gorm.DB) *gorm.DB {
			return db.Table("patients").Where("ssn IN ?", []string{ann.SSN}).Delete(nil)
		}},
		{"DeleteShortBlindIndex", func(db *gorm.DB) *gorm.DB {
			return db.Where("label = ?", "vip").Delete(&Badge{})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, db := range []*gorm.DB{s.db, s.e.db.Session(&gorm.Session{Logger: s.rec})} { // with and without a tenant
				s.rec.reset()
				err := c.run(db).Error
				var fe *gormplugin.FieldError
				if !errors.Is(err, gormplugin.ErrUnsearchable) || !errors.As(err, &fe) {
					t.Fatalf("%s = %v, want a FieldError matching ErrUnsearchable", c.name, err)
				}
				if sent := s.rec.statements(); len(sent) != 0 {
					t.Fatalf("%s sent %q, want no SQL", c.name, sent)
				}
				for _, secret := range []string{ann.Email, ann.SSN, ann.Name} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("%s: error %q holds the plaintext", c.name, err)
					}
				}
			}
		})
	}
	var n int64
	if err := s.e.db.Model(&Patient{}).Count(&n).Error; err != nil || n != 4 {
		t.Fatalf("patients after refused statements = %d, %v; want 4", n, err)
	}
}

func (s *rewriteScene) writes(t *testing.T) {
	cy1, cy2, globexCy := newPatient("Cy"), newPatient("Cy"), newPatient("Cy")
	s.e.create(t, "acme", &cy1, &cy2)
	s.e.create(t, "globex", &globexCy)

	t.Run("Update", func(t *testing.T) {
		want := s.matchIDs(t, "acme", "SSN", cy1.SSN)
		res := s.db.Model(&Patient{}).Where("ssn = ?", cy1.SSN).Update("age", 77)
		if res.Error != nil || res.RowsAffected != int64(len(want)) || len(want) != 2 {
			t.Fatalf("Update where ssn = %d rows, %v; want %d (Match's)", res.RowsAffected, res.Error, len(want))
		}
		for _, id := range want {
			var p Patient
			if err := s.db.First(&p, id).Error; err != nil || p.Age == nil || *p.Age != 77 {
				t.Fatalf("row %d after Update: age %v, %v; want 77", id, p.Age, err)
			}
		}
		var g Patient
		if err := s.e.db.WithContext(ctxFor("globex")).First(&g, globexCy.ID).Error; err != nil || *g.Age != *globexCy.Age {
			t.Fatalf("globex's row after acme's Update: age %v, %v; want %d", g.Age, err, *globexCy.Age)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		res := s.db.Where("email = ?", "CY@example.com").Delete(&Patient{})
		if res.Error != nil || res.RowsAffected != 2 {
			t.Fatalf("Delete where email = %d rows, %v; want 2", res.RowsAffected, res.Error)
		}
		if ids := s.matchIDs(t, "acme", "Email", cy1.Email); len(ids) != 0 {
			t.Fatalf("Match after Delete = %v, want none", ids)
		}
		if ids := s.matchIDs(t, "globex", "Email", cy1.Email); !slices.Equal(ids, []uint{globexCy.ID}) {
			t.Fatalf("globex's Match after acme's Delete = %v, want its row %d", ids, globexCy.ID)
		}
	})
	t.Run("DeleteInline", func(t *testing.T) {
		res := s.e.db.WithContext(ctxFor("globex")).Delete(&Patient{}, "ssn IN ?", []string{globexCy.SSN})
		if res.Error != nil || res.RowsAffected != 1 {
			t.Fatalf("Delete(&Patient{}, ssn IN ?) = %d rows, %v; want 1", res.RowsAffected, res.Error)
		}
	})
	t.Run("FirstOrCreateCreates", func(t *testing.T) {
		for _, cond := range []any{Patient{Email: "eve@example.com"}, map[string]any{"email": "fay@example.com"}} {
			var p Patient
			if err := s.db.Where(cond).FirstOrCreate(&p).Error; err != nil {
				t.Fatalf("FirstOrCreate(%v) = %v", cond, err)
			}
			email := p.Email
			var again Patient
			if err := s.db.Where(cond).FirstOrCreate(&again).Error; err != nil || again.ID != p.ID || again.Email != email {
				t.Fatalf("FirstOrCreate(%v) again = row %d %q, %v; want the row it created, %d %q", cond, again.ID, again.Email, err, p.ID, email)
			}
			if ids := s.matchIDs(t, "acme", "Email", email); !slices.Equal(ids, []uint{p.ID}) {
				t.Fatalf("Match(%q) after FirstOrCreate = %v, want [%d]", email, ids, p.ID)
			}
		}
	})
	t.Run("SoftDeletedStayHiddenOnReuse", func(t *testing.T) {
		// One statement run twice: the second run must still exclude the
		// soft-deleted row, with and without a lone Or that GORM folds.
		live, gone := Ticket{Code: "T-1"}, Ticket{Code: "T-1"}
		for _, tk := range []*Ticket{&live, &gone} {
			if err := s.db.Create(tk).Error; err != nil {
				t.Fatalf("Create(Ticket) = %v", err)
			}
		}
		if err := s.db.Delete(&Ticket{}, gone.ID).Error; err != nil {
			t.Fatalf("Delete(ticket) = %v", err)
		}
		for _, q := range []*gorm.DB{
			s.db.Model(&Ticket{}).Where("code = ?", "T-1"),
			s.db.Model(&Ticket{}).Where("id < 0").Or("code = ?", "T-1"),
		} {
			var n int64
			if err := q.Count(&n).Error; err != nil || n != 1 {
				t.Fatalf("Count = %d, %v; want 1 (the live ticket)", n, err)
			}
			var ts []Ticket
			if err := q.Find(&ts).Error; err != nil || len(ts) != 1 || ts[0].ID != live.ID {
				t.Fatalf("Find after Count on the same statement = %+v, %v; want the live ticket %d only", ts, err, live.ID)
			}
		}
	})
	t.Run("ShortBlindIndexReadsOnly", func(t *testing.T) {
		b := Badge{Label: "vip"}
		if err := s.db.Create(&b).Error; err != nil {
			t.Fatalf("Create(Badge) = %v", err)
		}
		var got []Badge
		if err := s.db.Where("label = ?", "vip").Find(&got).Error; err != nil || len(got) != 1 || got[0].ID != b.ID {
			t.Fatalf("Where(label) = %v, %v; want the badge", got, err)
		}
	})
}

// allowPlaintext: rows written before the column was encrypted hold the
// plaintext; a lookup finds them, byte for byte, and never an encrypted
// row passed off as a plaintext.
func (s *rewriteScene) allowPlaintext(t *testing.T) {
	e := s.e
	insert := func(tenant, email, code string) uint {
		t.Helper()
		// Postgres needs bytes for a bytea column; SQLite stores a string as
		// TEXT in the blob column, a storage class a blob never equals.
		var em any = email
		if e.dialect == "postgres" {
			em = []byte(email)
		}
		e.exec(t, "INSERT INTO leads (tenant_id, email, code) VALUES ("+e.ph(1)+", "+e.ph(2)+", "+e.ph(3)+")", tenant, em, code)
		var id uint
		if err := e.raw.QueryRow("SELECT max(id) FROM leads").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	plain := insert("acme", "dee@example.com", "C-1")
	insert("acme", "DEE@example.com", "c-1")                 // other case: not the same bytes
	insert("acme", "dee@example.com ", "C-1 ")               // trailing space: not the same bytes
	insert("globex", "dee@example.com", "C-1")               // another tenant
	backslash := insert("acme", `d\x65e@example.com`, `C\1`) // Postgres reads \x.. in bytea text as hex
	enc := Lead{Email: "dee@example.com", Code: "C-1"}
	if err := s.db.Create(&enc).Error; err != nil {
		t.Fatalf("Create(Lead) = %v", err)
	}
	find := func(query string, v any) []uint {
		t.Helper()
		var cs []Lead
		if err := s.db.Where(query, v).Find(&cs).Error; err != nil {
			t.Fatalf("Where(%q) = %v", query, err)
		}
		ids := make([]uint, 0, len(cs))
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		return ids
	}
	want := []uint{plain, enc.ID}
	if got := find("email = ?", "dee@example.com"); !slices.Equal(got, want) {
		t.Fatalf("Where(email) mid-migration = %v, want the plaintext row and the encrypted one %v", got, want)
	}
	if got := find("code = ?", "C-1"); !slices.Equal(got, want) {
		t.Fatalf("Where(code) mid-migration = %v, want the plaintext row and the encrypted one %v", got, want)
	}
	if got := find("code IN ?", []string{"C-1", "nothing"}); !slices.Equal(got, want) {
		t.Fatalf("Where(code IN) mid-migration = %v, want %v", got, want)
	}
	if got := find("email = ?", `d\x65e@example.com`); !slices.Equal(got, []uint{backslash}) {
		t.Fatalf("Where(email with a backslash) = %v, want the plaintext row %d", got, backslash)
	}
	if got := find("code = ?", `C\1`); !slices.Equal(got, []uint{backslash}) {
		t.Fatalf("Where(code with a backslash) = %v, want the plaintext row %d", got, backslash)
	}
	// The stored form of the encrypted row, given as the value, must not
	// find that row through the plaintext comparison.
	for _, col := range []string{"email", "code"} {
		stored := e.rawBytes(t, "leads", col, enc.ID)
		if got := find(col+" = ?", string(stored)); len(got) != 0 {
			t.Fatalf("Where(%s = its stored ciphertext) = %v, want no row", col, got)
		}
	}
}
