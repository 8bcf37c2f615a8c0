package gormplugin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Applicant has two named indexes on one field (SSN), a compound index
// over two fields (last four digits of SSN and zip), and a compound index
// of a first initial and a last name, whose 20 bits leave four bits of
// its third byte unused.
type Applicant struct {
	ID          uint
	TenantID    string `colcrypt:"tenant"`
	SSN         string `gorm:"serializer:colcrypt"`
	Zip         string `gorm:"serializer:colcrypt"`
	First       string `gorm:"serializer:colcrypt"`
	Last        string `gorm:"serializer:colcrypt"`
	SSNFull     []byte `gorm:"index" colcrypt:"index:ssn_full,parts:SSN/digits,bits:64"`
	SSNLast4    []byte `gorm:"index" colcrypt:"index:ssn_last4,parts:SSN/digits/last4,bits:24"`
	Last4Zip    []byte `gorm:"index" colcrypt:"index:ssn_zip,parts:SSN/digits/last4+Zip/trim,bits:32"`
	InitialLast []byte `gorm:"index" colcrypt:"index:initial_last,parts:First/lower/initial+Last/trim/lower,bits:20"`
}

func (Applicant) TableName() string { return "applicants_idx" }

// TestNamedIndexes: every write form fills every index of the row; Match
// by an index name finds exactly the rows whose parts match, of the
// context's tenant only; values have the configured number of bytes.
func TestNamedIndexes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, &Applicant{})
		acme := e.db.WithContext(ctxFor("acme"))
		rows := []Applicant{
			{SSN: "123-45-6789", Zip: "94110", First: "Ann", Last: "Archer"},
			{SSN: "987-65-6789", Zip: " 94110", First: "bob", Last: "Archer"},
			{SSN: "111-22-6789", Zip: "10001", First: "Anna", Last: "archer "},
			{SSN: "123-45-0000", Zip: "94110", First: "Cy", Last: "Baker"},
		}
		if err := acme.Create(&rows).Error; err != nil {
			t.Fatalf("Create(batch): %v", err)
		}
		other := Applicant{SSN: "123-45-6789", Zip: "94110", First: "Ann", Last: "Archer"}
		if err := e.db.WithContext(ctxFor("globex")).Create(&other).Error; err != nil {
			t.Fatalf("Create(globex): %v", err)
		}
		// A Create from a map fills the indexes of the parts it gives.
		if err := acme.Model(&Applicant{}).Create(map[string]any{"SSN": "222-33-6789", "Zip": "94110", "First": "Dee", "Last": "Archer"}).Error; err != nil {
			t.Fatalf("Create(map): %v", err)
		}
		find := func(t *testing.T, name string, values ...any) []uint {
			t.Helper()
			var got []Applicant
			if err := acme.Scopes(gormplugin.Match(ctxFor("acme"), name, values...)).Order("id").Find(&got).Error; err != nil {
				t.Fatalf("Match(%s, %v): %v", name, values, err)
			}
			ids := make([]uint, len(got))
			for i, a := range got {
				ids[i] = a.ID
			}
			return ids
		}
		for _, c := range []struct {
			name   string
			values []any
			want   []uint
		}{
			{"ssn_zip", []any{"555-55-6789", "94110 "}, []uint{1, 2, 6}},
			{"ssn_zip", []any{"6789", "10001"}, []uint{3}},
			{"ssn_zip", []any{"6789", "94111"}, nil},
			{"ssn_last4", []any{"6789"}, []uint{1, 2, 3, 6}},
			{"ssn_full", []any{"123456789"}, []uint{1}},
			{"ssn_full", []any{"123-45-0000"}, []uint{4}},
			{"initial_last", []any{"Alice", "ARCHER"}, []uint{1, 3}},
			{"initial_last", []any{" b", "archer"}, []uint{2}},
		} {
			if got := find(t, c.name, c.values...); !slices.Equal(got, c.want) {
				t.Errorf("Match(%s, %q) = rows %v, want %v", c.name, c.values, got, c.want)
			}
		}

		// Stored lengths: bits/8 rounded up, unused low bits zero.
		for _, c := range []struct {
			column string
			n      int
		}{{"ssn_full", 8}, {"ssn_last4", 3}, {"last4_zip", 4}, {"initial_last", 3}} {
			for id := uint(1); id <= 6; id++ {
				if b := e.rawBytes(t, "applicants_idx", c.column, id); len(b) != c.n {
					t.Errorf("%s of row %d = %x, want %d bytes", c.column, id, b, c.n)
				}
			}
		}
		for id := uint(1); id <= 6; id++ {
			if b := e.rawBytes(t, "applicants_idx", "initial_last", id); b[2]&0x0F != 0 {
				t.Errorf("initial_last of row %d = %x: the low 4 bits of 20 are set", id, b)
			}
		}

		// Save recomputes every index from the row.
		a := rows[0]
		a.Zip = "10001"
		if err := acme.Save(&a).Error; err != nil {
			t.Fatalf("Save: %v", err)
		}
		if got := find(t, "ssn_zip", "6789", "10001"); !slices.Equal(got, []uint{1, 3}) {
			t.Errorf("after Save, Match(ssn_zip, 6789, 10001) = %v, want [1 3]", got)
		}
		if got := find(t, "ssn_zip", "6789", "94110"); !slices.Equal(got, []uint{2, 6}) {
			t.Errorf("after Save, Match(ssn_zip, 6789, 94110) = %v, want [2 6]", got)
		}

		// Updates with every part of an index recompute it...
		if err := acme.Model(&Applicant{ID: 4}).Updates(map[string]any{"ssn": "000-00-6789", "zip": "94110"}).Error; err != nil {
			t.Fatalf("Updates(ssn, zip): %v", err)
		}
		if got := find(t, "ssn_zip", "6789", "94110"); !slices.Equal(got, []uint{2, 4, 6}) {
			t.Errorf("after Updates, Match(ssn_zip) = %v, want [2 4 6]", got)
		}
		if got := find(t, "ssn_full", "000006789"); !slices.Equal(got, []uint{4}) {
			t.Errorf("after Updates, Match(ssn_full) = %v, want [4]", got)
		}
		// ...and with only some of them are refused before any SQL, the
		// row left as it was.
		before := e.rawBytes(t, "applicants_idx", "zip", 4)
		for _, tx := range []*gorm.DB{
			acme.Model(&Applicant{ID: 4}).Updates(map[string]any{"zip": "10001"}),
			acme.Model(&Applicant{ID: 4}).Update("zip", "10001"),
			acme.Model(&Applicant{ID: 4}).Updates(Applicant{First: "Zed"}),
		} {
			var fe *gormplugin.FieldError
			if !errors.Is(tx.Error, gormplugin.ErrUnsupported) || !errors.As(tx.Error, &fe) || !strings.Contains(tx.Error.Error(), "must set all") {
				t.Errorf("partial update err = %v, want ErrUnsupported naming the index's parts", tx.Error)
			}
		}
		if after := e.rawBytes(t, "applicants_idx", "zip", 4); string(after) != string(before) {
			t.Errorf("a refused update changed zip")
		}

		// An upsert that updates every column keeps the indexes in step.
		up := Applicant{ID: 3, SSN: "111-22-3333", Zip: "10001", First: "Anna", Last: "Archer"}
		if err := acme.Clauses(clause.OnConflict{UpdateAll: true}).Create(&up).Error; err != nil {
			t.Fatalf("upsert: %v", err)
		}
		if got := find(t, "ssn_last4", "3333"); !slices.Equal(got, []uint{3}) {
			t.Errorf("after upsert, Match(ssn_last4, 3333) = %v, want [3]", got)
		}

		// An upsert of chosen columns updates the index of the parts it
		// updates, and refuses to update only some of them.
		up = Applicant{ID: 3, SSN: "111-22-4444", Zip: "10001", First: "Anna", Last: "Archer"}
		if err := acme.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"ssn", "zip"})}).Create(&up).Error; err != nil {
			t.Fatalf("upsert(ssn, zip): %v", err)
		}
		if got := find(t, "ssn_last4", "4444"); !slices.Equal(got, []uint{3}) {
			t.Errorf("after upsert(ssn, zip), Match(ssn_last4, 4444) = %v, want [3]", got)
		}
		if got := find(t, "ssn_zip", "4444", "10001"); !slices.Equal(got, []uint{3}) {
			t.Errorf("after upsert(ssn, zip), Match(ssn_zip, 4444, 10001) = %v, want [3]", got)
		}
		up = Applicant{ID: 3, SSN: "111-22-5555", Zip: "99999", First: "Anna", Last: "Archer"}
		err := acme.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"zip"})}).Create(&up).Error
		if !errors.Is(err, gormplugin.ErrUnsupported) {
			t.Errorf("upsert(zip) err = %v, want ErrUnsupported", err)
		}
		if got := find(t, "ssn_zip", "4444", "10001"); !slices.Equal(got, []uint{3}) {
			t.Errorf("after refused upsert, Match(ssn_zip, 4444, 10001) = %v, want [3]", got)
		}

		// Wrong number of values, NULL values: typed errors.
		for _, values := range [][]any{{"6789"}, {"6789", "94110", "x"}, {"6789", nil}} {
			var got []Applicant
			err := acme.Scopes(gormplugin.Match(ctxFor("acme"), "ssn_zip", values...)).Find(&got).Error
			if !errors.Is(err, gormplugin.ErrNotMatchable) {
				t.Errorf("Match(ssn_zip, %v) err = %v, want ErrNotMatchable", values, err)
			}
		}
		// Match by a field still takes one value.
		if err := acme.Scopes(gormplugin.Match(ctxFor("acme"), "SSN", "1", "2")).Find(&[]Applicant{}).Error; !errors.Is(err, gormplugin.ErrNotMatchable) {
			t.Errorf("Match(SSN, two values) err = %v, want ErrNotMatchable", err)
		}
	})
}

type BadIndexNotBytes struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Idx string `colcrypt:"index:i,parts:SSN"`
}

type BadIndexEncrypted struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Idx []byte `gorm:"serializer:colcrypt" colcrypt:"index:i,parts:SSN"`
}

type BadIndexPlainPart struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Zip string
	Idx []byte `colcrypt:"index:i,parts:SSN+Zip"`
}

type BadIndexUnknownPart struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Idx []byte `colcrypt:"index:i,parts:SSN+Zipp"`
}

type BadIndexTwice struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	A   []byte `colcrypt:"index:i,parts:SSN"`
	B   []byte `colcrypt:"index:i,parts:SSN/last4"`
}

type BadIndexColumnName struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Idx []byte `colcrypt:"index:ssn,parts:SSN/last4"`
}

type BadIndexFieldName struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Zip string
	Idx []byte `colcrypt:"index:zip,parts:SSN/last4"`
}

// GoodIndexOwnColumn names its index like its own column.
type GoodIndexOwnColumn struct {
	ID       uint
	SSN      string `gorm:"serializer:colcrypt"`
	SSNLast4 []byte `colcrypt:"index:ssn_last4,parts:SSN/last4"`
}

type BadIndexBits struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Idx []byte `colcrypt:"index:i,parts:SSN,bits:12"`
}

type BadIndexTransform struct {
	ID  uint
	SSN string `gorm:"serializer:colcrypt"`
	Idx []byte `colcrypt:"index:i,parts:SSN/last0"`
}

// TestIndexModelErrors: a misdeclared index fails at registration
// (AutoMigrate, and the model's first statement), with a *ModelError
// naming the field, before any SQL.
func TestIndexModelErrors(t *testing.T) {
	e := newEnv(t, dialects[1], envOptions{}) // SQLite: registration is the same on every database
	for _, c := range []struct {
		model   any
		tagErr  bool
		mention string
	}{
		{&BadIndexNotBytes{}, false, "must be []byte"},
		{&BadIndexEncrypted{}, false, "drop the colcrypt serializer"},
		{&BadIndexPlainPart{}, false, "Zip is not an encrypted field"},
		{&BadIndexUnknownPart{}, false, "Zipp is not an encrypted field"},
		{&BadIndexTwice{}, false, "also declared on A"},
		{&BadIndexColumnName{}, false, "named like the encrypted column ssn"},
		{&BadIndexFieldName{}, false, "named like the field Zip"},
		{&BadIndexBits{}, true, "outside [16, 256]"},
		{&BadIndexTransform{}, true, "unknown normalizer"},
	} {
		for _, err := range []error{
			gormplugin.AutoMigrate(e.db, c.model),
			e.db.WithContext(ctxFor("acme")).Create(c.model).Error,
		} {
			var me *gormplugin.ModelError
			var te *fieldcore.TagError
			if !errors.As(err, &me) || !errors.Is(err, gormplugin.ErrModel) || !strings.Contains(err.Error(), c.mention) {
				t.Errorf("%T: err = %v, want a *ModelError saying %q", c.model, err, c.mention)
			}
			if c.tagErr && !errors.As(err, &te) {
				t.Errorf("%T: err = %v, want a *fieldcore.TagError in it", c.model, err)
			}
		}
	}
	if err := gormplugin.AutoMigrate(e.db, &GoodIndexOwnColumn{}); err != nil {
		t.Errorf("AutoMigrate(GoodIndexOwnColumn) = %v, want nil", err)
	}
}
