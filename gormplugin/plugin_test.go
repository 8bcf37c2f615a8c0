package gormplugin_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/internal/cipher"
	"github.com/colcrypt/colcrypt/testhelpers"
)

// TestPlugin runs every case on every dialect, each on emptied tables
// with a new key store (migrating a fresh database per case takes a
// second on Postgres).
func TestPlugin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		base := newEnv(t, d, envOptions{}, allModels...)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.run(t, base.fresh(t, d, "visits", "patients", "companies", "memos", "legacy_notes"))
			})
		}
	})
}

var cases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"CreateKeepsPlaintextInStructNoneInTable", testCreate},
	{"FindFirstTake", testFindFirstTake},
	{"CreateInBatches", testCreateInBatches},
	{"Save", testSave},
	{"UpdatesStruct", testUpdatesStruct},
	{"UpdatesMap", testUpdatesMap},
	{"UpdateOneColumn", testUpdateOneColumn},
	{"UpdateLimitedToTenant", testUpdateLimitedToTenant},
	{"TenantComparedByteForByte", testTenantBytes},
	{"UpdateExpressionRefused", testUpdateExpression},
	{"MatchBlindIndex", testMatchBlindIndex},
	{"MatchDeterministic", testMatchDeterministic},
	{"MatchAcrossRotation", testMatchAcrossRotation},
	{"MatchLimitedToTenant", testMatchLimitedToTenant},
	{"MatchRandomizedRefused", testMatchRandomized},
	{"Preload", testPreload},
	{"Joins", testJoins},
	{"RawScan", testRawScan},
	{"RowsAndScanRows", testRowsScanRows},
	{"FindInBatchesAssociationDelete", testFindInBatches},
	{"TenantColumnAfterEncrypted", testTenantLast},
	{"TenantMismatch", testTenantMismatch},
	{"NoTenant", testNoTenant},
	{"CiphertextMovedToAnotherRow", testMovedCiphertext},
	{"NullAndTypes", testNullAndTypes},
	{"Maps", testMaps},
	{"PluckRefused", testPluck},
	{"AllowPlaintextDuringMigration", testAllowPlaintext},
	{"AutoMigrateColumns", testAutoMigrateColumns},
}

func newPatient(name string) Patient {
	return Patient{
		Name:  name,
		Email: strings.ToLower(name) + "@example.com",
		SSN:   "ssn-" + name,
		Age:   ptr(40 + len(name)),
		Born:  day,
		Notes: "notes of " + name,
	}
}

// create creates ps for tenant, failing t on error.
func (e *env) create(t testing.TB, tenant string, ps ...*Patient) {
	t.Helper()
	for _, p := range ps {
		if err := e.db.WithContext(ctxFor(tenant)).Create(p).Error; err != nil {
			t.Fatalf("Create(%s) = %v", p.Name, err)
		}
	}
}

// samePatient fails t unless got holds want's plaintext.
func samePatient(t testing.TB, got, want Patient) {
	t.Helper()
	if got.Name != want.Name || got.Email != want.Email || got.SSN != want.SSN || got.Notes != want.Notes ||
		!got.Born.Equal(want.Born) || (got.Age == nil) != (want.Age == nil) || (got.Age != nil && *got.Age != *want.Age) {
		t.Fatalf("read %+v, want plaintext of %+v", got, want)
	}
	if want.TenantID != "" && got.TenantID != want.TenantID {
		t.Fatalf("read TenantID %q, want %q", got.TenantID, want.TenantID)
	}
}

func testCreate(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	want := newPatient("Ann")
	want.TenantID = "acme"
	samePatient(t, p, want) // the caller's struct is untouched, its tenant filled
	if len(p.EmailBidx) != 16 {
		t.Fatalf("Create set EmailBidx = %x, want a 16-byte blind index", p.EmailBidx)
	}
	for col, pt := range map[string]string{"name": "Ann", "email": "ann@example.com", "ssn": "ssn-Ann", "notes": "notes of Ann", "born": "1980-05-17", "age": "43"} {
		testhelpers.AssertNoPlaintext(t, e.raw, "patients", col, pt)
	}
	if b := e.rawBytes(t, "patients", "name", p.ID); !codec.IsValue(b) {
		t.Fatalf("stored name = %q, want a binary colcrypt value", b)
	}
	if b := e.rawBytes(t, "patients", "notes", p.ID); !codec.IsArmored(b) {
		t.Fatalf("stored notes = %q, want text armor", b)
	}
	if b := e.rawBytes(t, "patients", "email_bidx", p.ID); !bytes.Equal(b, p.EmailBidx) {
		t.Fatalf("stored email_bidx = %x, want %x", b, p.EmailBidx)
	}
	var tenant string
	if err := e.raw.QueryRow("SELECT tenant_id FROM patients WHERE id = "+e.ph(1), p.ID).Scan(&tenant); err != nil || tenant != "acme" {
		t.Fatalf("stored tenant_id = %q, %v; want acme", tenant, err)
	}
}

func testFindFirstTake(t *testing.T, e *env) {
	ann, bob, cy := newPatient("Ann"), newPatient("Bob"), newPatient("Cy")
	e.create(t, "acme", &ann, &bob, &cy)
	ctx := ctxFor("acme")

	var ps []Patient
	if err := e.db.WithContext(ctx).Order("id").Find(&ps).Error; err != nil {
		t.Fatalf("Find = %v", err)
	}
	if len(ps) != 3 {
		t.Fatalf("Find returned %d rows, want 3", len(ps))
	}
	for i, want := range []Patient{ann, bob, cy} {
		samePatient(t, ps[i], want)
	}

	var pps []*Patient
	if err := e.db.WithContext(ctx).Order("id").Find(&pps).Error; err != nil || len(pps) != 3 {
		t.Fatalf("Find([]*Patient) = %d rows, %v; want 3", len(pps), err)
	}
	samePatient(t, *pps[2], cy)

	var first, take Patient
	if err := e.db.WithContext(ctx).First(&first, bob.ID).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	samePatient(t, first, bob)
	if err := e.db.WithContext(ctx).Where("id = ?", cy.ID).Take(&take).Error; err != nil {
		t.Fatalf("Take = %v", err)
	}
	samePatient(t, take, cy)

	// Without a context tenant every row names its own.
	var noCtx Patient
	if err := e.db.First(&noCtx, ann.ID).Error; err != nil {
		t.Fatalf("First without a context tenant = %v", err)
	}
	samePatient(t, noCtx, ann)
}

func testCreateInBatches(t *testing.T, e *env) {
	ps := make([]Patient, 25)
	for i := range ps {
		ps[i] = newPatient("P" + strings.Repeat("x", i))
	}
	if err := e.db.WithContext(ctxFor("acme")).CreateInBatches(ps, 10).Error; err != nil {
		t.Fatalf("CreateInBatches = %v", err)
	}
	var got []Patient
	if err := e.db.WithContext(ctxFor("acme")).Order("id").Find(&got).Error; err != nil || len(got) != 25 {
		t.Fatalf("Find = %d rows, %v; want 25", len(got), err)
	}
	for i := range ps {
		samePatient(t, got[i], ps[i])
		if len(ps[i].EmailBidx) == 0 {
			t.Fatalf("CreateInBatches left row %d without a blind index", i)
		}
	}
	testhelpers.AssertNoPlaintext(t, e.raw, "patients", "name", ps[24].Name)
}

func testSave(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	ctx := ctxFor("acme")
	p.Name, p.Email = "Anne", "anne@example.org"
	if err := e.db.WithContext(ctx).Save(&p).Error; err != nil {
		t.Fatalf("Save = %v", err)
	}
	var got Patient
	if err := e.db.WithContext(ctx).First(&got, p.ID).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	samePatient(t, got, p)
	if n := e.matchCount(t, ctx, "Email", "anne@example.org"); n != 1 {
		t.Fatalf("Match(new email) after Save = %d rows, want 1", n)
	}
	if n := e.matchCount(t, ctx, "Email", "ann@example.com"); n != 0 {
		t.Fatalf("Match(old email) after Save = %d rows, want 0", n)
	}
	testhelpers.AssertNoPlaintext(t, e.raw, "patients", "name", "Anne")
}

func testUpdatesStruct(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	ctx := ctxFor("acme")
	if err := e.db.WithContext(ctx).Model(&p).Updates(Patient{Name: "Neo", Email: "neo@example.net"}).Error; err != nil {
		t.Fatalf("Updates(struct) = %v", err)
	}
	if p.Name != "Neo" || p.Email != "neo@example.net" {
		t.Fatalf("model after Updates = %q %q, want the new plaintext", p.Name, p.Email)
	}
	var got Patient
	if err := e.db.WithContext(ctx).First(&got, p.ID).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	samePatient(t, got, p)
	if n := e.matchCount(t, ctx, "Email", "neo@example.net"); n != 1 {
		t.Fatalf("Match(updated email) = %d rows, want 1", n)
	}
	testhelpers.AssertNoPlaintext(t, e.raw, "patients", "name", "Neo")
	testhelpers.AssertNoPlaintext(t, e.raw, "patients", "email", "neo@example.net")
}

func testUpdatesMap(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	ctx := ctxFor("acme")
	// Keys by field name and by column name.
	err := e.db.WithContext(ctx).Model(&p).Updates(map[string]any{"Email": "map@example.org", "ssn": "ssn-map", "name": "Mapped"}).Error
	if err != nil {
		t.Fatalf("Updates(map) = %v", err)
	}
	if p.Name != "Mapped" || p.SSN != "ssn-map" {
		t.Fatalf("model after Updates(map) = %q %q, want the new plaintext", p.Name, p.SSN)
	}
	var got Patient
	if err := e.db.WithContext(ctx).First(&got, p.ID).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	samePatient(t, got, p)
	for col, pt := range map[string]string{"name": "Mapped", "email": "map@example.org", "ssn": "ssn-map"} {
		testhelpers.AssertNoPlaintext(t, e.raw, "patients", col, pt)
	}
	if n := e.matchCount(t, ctx, "Email", "MAP@example.org"); n != 1 {
		t.Fatalf("Match(email from map) = %d rows, want 1", n)
	}
	if n := e.matchCount(t, ctx, "SSN", "ssn-map"); n != 1 {
		t.Fatalf("Match(ssn from map) = %d rows, want 1", n)
	}
}

func testUpdateOneColumn(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	ctx := ctxFor("acme")
	if err := e.db.WithContext(ctx).Model(&p).Update("name", "Solo").Error; err != nil {
		t.Fatalf("Update(name) = %v", err)
	}
	if err := e.db.WithContext(ctx).Model(&Patient{ID: p.ID}).Update("Email", "solo@example.com").Error; err != nil {
		t.Fatalf("Update(Email) = %v", err)
	}
	if err := e.db.WithContext(ctx).Model(&p).UpdateColumn("ssn", "ssn-solo").Error; err != nil {
		t.Fatalf("UpdateColumn(ssn) = %v", err)
	}
	var got Patient
	if err := e.db.WithContext(ctx).First(&got, p.ID).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	if got.Name != "Solo" || got.Email != "solo@example.com" || got.SSN != "ssn-solo" {
		t.Fatalf("after Update: %q %q %q, want Solo solo@example.com ssn-solo", got.Name, got.Email, got.SSN)
	}
	if n := e.matchCount(t, ctx, "Email", "solo@example.com"); n != 1 {
		t.Fatalf("Match(email from Update) = %d rows, want 1", n)
	}
	testhelpers.AssertNoPlaintext(t, e.raw, "patients", "name", "Solo")
	testhelpers.AssertNoPlaintext(t, e.raw, "patients", "ssn", "ssn-solo")
}

func testUpdateLimitedToTenant(t *testing.T, e *env) {
	ann := newPatient("Ann")
	e.create(t, "acme", &ann)
	// A request for globex cannot write into acme's row.
	res := e.db.WithContext(ctxFor("globex")).Model(&Patient{}).Where("id = ?", ann.ID).Update("name", "Mallory")
	if res.Error != nil || res.RowsAffected != 0 {
		t.Fatalf("Update of another tenant's row = %d rows, %v; want 0, nil", res.RowsAffected, res.Error)
	}
	var got Patient
	if err := e.db.WithContext(ctxFor("acme")).First(&got, ann.ID).Error; err != nil || got.Name != "Ann" {
		t.Fatalf("First = %q, %v; want Ann", got.Name, err)
	}
	// One statement cannot seal one value for two tenants.
	bob := newPatient("Bob")
	e.create(t, "globex", &bob)
	rows := []Patient{ann, bob}
	err := e.db.Model(&rows).Update("name", "Both").Error
	if !errors.Is(err, gormplugin.ErrManyTenants) {
		t.Fatalf("Update of rows of two tenants = %v, want ErrManyTenants", err)
	}
}

// testTenantBytes: a tenant id that equals another only under a
// collation (MySQL's default is case-insensitive and pads with spaces)
// neither updates nor matches its rows.
func testTenantBytes(t *testing.T, e *env) {
	ann := newPatient("Ann")
	e.create(t, "acme", &ann)
	for _, other := range []string{"ACME", "Acme", "acme "} {
		ctx := ctxFor(other)
		res := e.db.WithContext(ctx).Model(&Patient{}).Where("id = ?", ann.ID).Update("name", "Mallory")
		if res.Error != nil || res.RowsAffected != 0 {
			t.Fatalf("Update of acme's row for %q = %d rows, %v; want 0, nil", other, res.RowsAffected, res.Error)
		}
		if n := e.matchCount(t, ctx, "Email", ann.Email); n != 0 {
			t.Fatalf("Match(Email) for %q = %d rows, want 0", other, n)
		}
	}
	var got Patient
	if err := e.db.WithContext(ctxFor("acme")).First(&got, ann.ID).Error; err != nil || got.Name != "Ann" {
		t.Fatalf("First = %q, %v; want Ann", got.Name, err)
	}
}

func testUpdateExpression(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	err := e.db.WithContext(ctxFor("acme")).Model(&p).Update("name", gorm.Expr("upper(name)")).Error
	if !errors.Is(err, gormplugin.ErrUnsupported) {
		t.Fatalf("Update(name, Expr) = %v, want ErrUnsupported", err)
	}
}

// matchCount counts the rows Match finds.
func (e *env) matchCount(t testing.TB, ctx context.Context, fieldName string, v any) int {
	t.Helper()
	var ps []Patient
	if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, fieldName, v)).Find(&ps).Error; err != nil {
		t.Fatalf("Match(%s) = %v", fieldName, err)
	}
	return len(ps)
}

func testMatchBlindIndex(t *testing.T, e *env) {
	ann, bob := newPatient("Ann"), newPatient("Bob")
	e.create(t, "acme", &ann, &bob)
	ctx := ctxFor("acme")
	var ps []Patient
	if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "  ANN@Example.COM ")).Find(&ps).Error; err != nil {
		t.Fatalf("Match(Email) = %v", err)
	}
	if len(ps) != 1 || ps[0].Name != "Ann" {
		t.Fatalf("Match(Email, normalized ann) = %+v, want Ann", ps)
	}
	if n := e.matchCount(t, ctx, "email", "bob@example.com"); n != 1 {
		t.Fatalf("Match(email column) = %d rows, want 1", n)
	}
	if n := e.matchCount(t, ctx, "Email", "nobody@example.com"); n != 0 {
		t.Fatalf("Match(unknown email) = %d rows, want 0", n)
	}
}

func testMatchDeterministic(t *testing.T, e *env) {
	ann, bob := newPatient("Ann"), newPatient("Bob")
	e.create(t, "acme", &ann, &bob)
	ctx := ctxFor("acme")
	var got Patient
	if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "SSN", "ssn-Bob")).First(&got).Error; err != nil {
		t.Fatalf("Match(SSN).First = %v", err)
	}
	samePatient(t, got, bob)
	if n := e.matchCount(t, ctx, "SSN", "ssn-bob"); n != 0 {
		t.Fatalf("Match(SSN, other case) = %d rows, want 0: deterministic has no normalizer", n)
	}
}

func testMatchAcrossRotation(t *testing.T, e *env) {
	ctx := ctxFor("acme")
	ann := newPatient("Ann")
	e.create(t, "acme", &ann)
	if _, err := e.keys.Rotate(ctx, "acme"); err != nil {
		t.Fatalf("Rotate = %v", err)
	}
	twin := newPatient("Ann") // same email and SSN, sealed under version 2
	e.create(t, "acme", &twin)
	v1, _ := field.KeyVersion(e.rawBytes(t, "patients", "ssn", ann.ID))
	v2, _ := field.KeyVersion(e.rawBytes(t, "patients", "ssn", twin.ID))
	if v1 != 1 || v2 != 2 {
		t.Fatalf("key versions = %d, %d; want 1, 2", v1, v2)
	}
	if n := e.matchCount(t, ctx, "SSN", "ssn-Ann"); n != 2 {
		t.Fatalf("Match(SSN) across a rotation = %d rows, want 2", n)
	}
	if n := e.matchCount(t, ctx, "Email", "ann@example.com"); n != 2 {
		t.Fatalf("Match(Email) across a rotation = %d rows, want 2", n)
	}
}

func testMatchLimitedToTenant(t *testing.T, e *env) {
	a1, a2 := newPatient("Ann"), newPatient("Ann")
	e.create(t, "acme", &a1)
	e.create(t, "globex", &a2)
	ctx := ctxFor("globex")
	var ps []Patient
	if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&ps).Error; err != nil {
		t.Fatalf("Match = %v", err)
	}
	if len(ps) != 1 || ps[0].ID != a2.ID {
		t.Fatalf("Match for globex = %d rows, want only globex's", len(ps))
	}
}

func testMatchRandomized(t *testing.T, e *env) {
	ctx := ctxFor("acme")
	var ps []Patient
	err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Name", "Ann")).Find(&ps).Error
	if !errors.Is(err, gormplugin.ErrNotMatchable) {
		t.Fatalf("Match(randomized Name) = %v, want ErrNotMatchable", err)
	}
	err = e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "TenantID", "acme")).Find(&ps).Error
	if !errors.Is(err, gormplugin.ErrNotMatchable) {
		t.Fatalf("Match(plain TenantID) = %v, want ErrNotMatchable", err)
	}
}

func testPreload(t *testing.T, e *env) {
	p := newPatient("Ann")
	p.Visits = []Visit{{Note: "first visit"}, {Note: "second visit"}}
	e.create(t, "acme", &p)
	testhelpers.AssertNoPlaintext(t, e.raw, "visits", "note", "first visit", "second visit")
	for _, ctx := range []context.Context{ctxFor("acme"), context.Background()} {
		var got []Patient
		if err := e.db.WithContext(ctx).Preload("Visits", func(db *gorm.DB) *gorm.DB { return db.Order("id") }).Find(&got).Error; err != nil {
			t.Fatalf("Preload(Visits).Find = %v", err)
		}
		if len(got) != 1 || len(got[0].Visits) != 2 || got[0].Visits[0].Note != "first visit" || got[0].Visits[1].Note != "second visit" {
			t.Fatalf("Preload(Visits) = %+v, want two visits in plaintext", got)
		}
		samePatient(t, got[0], p)
	}
}

func testJoins(t *testing.T, e *env) {
	co := Company{Name: "Initech"}
	if err := e.db.WithContext(ctxFor("acme")).Create(&co).Error; err != nil {
		t.Fatalf("Create(Company) = %v", err)
	}
	p := newPatient("Ann")
	p.CompanyID = &co.ID
	e.create(t, "acme", &p)
	testhelpers.AssertNoPlaintext(t, e.raw, "companies", "name", "Initech")
	for _, ctx := range []context.Context{ctxFor("acme"), context.Background()} {
		var got []Patient
		if err := e.db.WithContext(ctx).Joins("Company").Find(&got).Error; err != nil {
			t.Fatalf("Joins(Company).Find = %v", err)
		}
		if len(got) != 1 || got[0].Company == nil || got[0].Company.Name != "Initech" || got[0].Company.TenantID != "acme" {
			t.Fatalf("Joins(Company) = %+v, want Initech", got)
		}
		samePatient(t, got[0], p)
		var one Patient
		if err := e.db.WithContext(ctx).Joins("Company").First(&one, p.ID).Error; err != nil || one.Company == nil || one.Company.Name != "Initech" {
			t.Fatalf("Joins(Company).First = %+v, %v; want Initech", one.Company, err)
		}
	}
}

func testRawScan(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	var got Patient
	if err := e.db.WithContext(ctxFor("acme")).Raw("SELECT * FROM patients WHERE id = ?", p.ID).Scan(&got).Error; err != nil {
		t.Fatalf("Raw(SELECT *).Scan = %v", err)
	}
	samePatient(t, got, p)
	// The tenant column first: no context needed.
	var early Patient
	if err := e.db.Raw("SELECT id, tenant_id, name, email FROM patients WHERE id = ?", p.ID).Scan(&early).Error; err != nil {
		t.Fatalf("Raw(tenant first).Scan = %v", err)
	}
	if early.Name != "Ann" || early.Email != "ann@example.com" {
		t.Fatalf("Raw(tenant first).Scan = %q %q, want Ann", early.Name, early.Email)
	}
	var rows []Patient
	if err := e.db.WithContext(ctxFor("acme")).Raw("SELECT * FROM patients").Scan(&rows).Error; err != nil || len(rows) != 1 {
		t.Fatalf("Raw.Scan([]Patient) = %d rows, %v", len(rows), err)
	}
	samePatient(t, rows[0], p)
}

func testRowsScanRows(t *testing.T, e *env) {
	ann, bob := newPatient("Ann"), newPatient("Bob")
	e.create(t, "acme", &ann)
	e.create(t, "globex", &bob)
	rows, err := e.db.Model(&Patient{}).Order("id").Rows()
	if err != nil {
		t.Fatalf("Rows = %v", err)
	}
	defer rows.Close()
	var got []Patient
	for rows.Next() {
		var p Patient
		// ScanRows on the base *gorm.DB: a statement the plugin never saw.
		if err := e.db.ScanRows(rows, &p); err != nil {
			t.Fatalf("ScanRows = %v", err)
		}
		got = append(got, p)
	}
	if len(got) != 2 {
		t.Fatalf("ScanRows read %d rows, want 2", len(got))
	}
	samePatient(t, got[0], ann)
	samePatient(t, got[1], bob)
}

func testFindInBatches(t *testing.T, e *env) {
	ctx := ctxFor("acme")
	for i := range 5 {
		p := newPatient("P" + strings.Repeat("y", i))
		e.create(t, "acme", &p)
	}
	var names []string
	var batch []Patient
	err := e.db.WithContext(ctx).FindInBatches(&batch, 2, func(tx *gorm.DB, _ int) error {
		for _, p := range batch {
			names = append(names, p.Name)
		}
		return nil
	}).Error
	if err != nil || len(names) != 5 || names[4] != "Pyyyy" {
		t.Fatalf("FindInBatches = %v, %v; want five names in plaintext", names, err)
	}
	var p Patient
	if err := e.db.WithContext(ctx).First(&p).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	if err := e.db.WithContext(ctx).Model(&p).Association("Visits").Append(&Visit{Note: "appended"}); err != nil {
		t.Fatalf("Association(Visits).Append = %v", err)
	}
	testhelpers.AssertNoPlaintext(t, e.raw, "visits", "note", "appended")
	var withVisits Patient
	if err := e.db.WithContext(ctx).Preload("Visits").First(&withVisits, p.ID).Error; err != nil || len(withVisits.Visits) != 1 || withVisits.Visits[0].Note != "appended" {
		t.Fatalf("Preload after Append = %+v, %v", withVisits.Visits, err)
	}
	if err := e.db.WithContext(ctx).Select("Visits").Delete(&p).Error; err != nil {
		t.Fatalf("Delete = %v", err)
	}
	var n int64
	e.db.Model(&Patient{}).Count(&n)
	if n != 4 {
		t.Fatalf("after Delete %d patients, want 4", n)
	}
}

// CompanyView is read from the companies table through another type.
type CompanyView struct {
	ID       uint
	Name     string `gorm:"serializer:colcrypt"`
	TenantID string `colcrypt:"tenant"`
}

func testTenantLast(t *testing.T, e *env) {
	for _, tc := range []struct{ tenant, name string }{{"acme", "Initech"}, {"globex", "Globex Corp"}} {
		if err := e.db.WithContext(ctxFor(tc.tenant)).Create(&Company{Name: tc.name}).Error; err != nil {
			t.Fatalf("Create(Company) = %v", err)
		}
	}
	check := func(what string, got []Company) {
		t.Helper()
		if len(got) != 2 || got[0].Name != "Initech" || got[0].TenantID != "acme" || got[1].Name != "Globex Corp" || got[1].TenantID != "globex" {
			t.Fatalf("%s = %+v, want both companies in plaintext", what, got)
		}
	}
	// SELECT * reads name before tenant_id; no context tenant: each row's
	// own tenant opens it.
	var vals []Company
	if err := e.db.Order("id").Find(&vals).Error; err != nil {
		t.Fatalf("Find([]Company) = %v", err)
	}
	check("Find([]Company)", vals)
	var ptrs []*Company
	if err := e.db.Order("id").Find(&ptrs).Error; err != nil || len(ptrs) != 2 {
		t.Fatalf("Find([]*Company) = %d, %v", len(ptrs), err)
	}
	check("Find([]*Company)", []Company{*ptrs[0], *ptrs[1]})
	var one Company
	if err := e.db.Order("id desc").First(&one).Error; err != nil || one.Name != "Globex Corp" {
		t.Fatalf("First(Company) = %+v, %v; want Globex Corp", one, err)
	}
	// An explicit Select with the tenant last.
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	var sel []Patient
	if err := e.db.Select("email", "name", "tenant_id").Find(&sel).Error; err != nil {
		t.Fatalf("Select(email, name, tenant_id).Find = %v", err)
	}
	if len(sel) != 1 || sel[0].Name != "Ann" || sel[0].Email != "ann@example.com" {
		t.Fatalf("Select(email, name, tenant_id).Find = %+v, want Ann", sel)
	}
	// Raw with the context's tenant: opened under it.
	var raw []Company
	if err := e.db.WithContext(ctxFor("acme")).Raw("SELECT id, name, tenant_id FROM companies WHERE tenant_id = ?", "acme").Scan(&raw).Error; err != nil || len(raw) != 1 || raw[0].Name != "Initech" {
		t.Fatalf("Raw(tenant last, context tenant).Scan = %+v, %v; want Initech", raw, err)
	}
	// Raw without one cannot wait for the tenant: a clear error, no zero value.
	err := e.db.Raw("SELECT id, name, tenant_id FROM companies").Scan(&raw).Error
	if !errors.Is(err, field.ErrNoTenant) || !strings.Contains(err.Error(), "before the encrypted columns") {
		t.Fatalf("Raw(tenant last, no context tenant).Scan = %v, want ErrNoTenant naming the column order", err)
	}
	// Find into another type than the Model: GORM parses it mid-scan.
	var views []CompanyView
	err = e.db.Model(&Company{}).Find(&views).Error
	if !errors.Is(err, gormplugin.ErrTenantOrder) {
		t.Fatalf("Model(Company).Find([]CompanyView) = %v, want ErrTenantOrder", err)
	}
}

func testTenantMismatch(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	if err := e.db.WithContext(ctxFor("acme")).Create(&Company{Name: "Initech"}).Error; err != nil {
		t.Fatalf("Create(Company) = %v", err)
	}
	globex := ctxFor("globex")
	var got Patient
	if err := e.db.WithContext(globex).First(&got, p.ID).Error; !errors.Is(err, field.ErrTenantMismatch) {
		t.Fatalf("First(acme's Patient) for globex = %v, want ErrTenantMismatch", err)
	}
	var co []Company // tenant column after the encrypted one
	if err := e.db.WithContext(globex).Find(&co).Error; !errors.Is(err, field.ErrTenantMismatch) {
		t.Fatalf("Find(acme's Company) for globex = %v, want ErrTenantMismatch", err)
	}
	// Creating a row for another tenant than the request's.
	q := newPatient("Eve")
	q.TenantID = "acme"
	if err := e.db.WithContext(globex).Create(&q).Error; !errors.Is(err, field.ErrTenantMismatch) {
		t.Fatalf("Create(acme row) for globex = %v, want ErrTenantMismatch", err)
	}
}

func testNoTenant(t *testing.T, e *env) {
	p := newPatient("Ann")
	if err := e.db.Create(&p).Error; !errors.Is(err, field.ErrNoTenant) {
		t.Fatalf("Create without any tenant = %v, want field.ErrNoTenant", err)
	}
	var fe *gormplugin.FieldError
	if err := e.db.Create(&Memo{Body: "x"}).Error; !errors.As(err, &fe) || !errors.Is(err, field.ErrNoTenant) || fe.Field != "Body" {
		t.Fatalf("Create(Memo) without any tenant = %v, want a FieldError on Body matching ErrNoTenant", err)
	}
	var n int64
	e.db.Model(&Patient{}).Count(&n)
	if n != 0 {
		t.Fatalf("after failed creates, %d patients, want 0", n)
	}
	// A read whose rows name no tenant (the column not selected).
	e.create(t, "acme", &p)
	var got []Patient
	if err := e.db.Select("id", "name").Find(&got).Error; !errors.Is(err, field.ErrNoTenant) {
		t.Fatalf("Select(id, name).Find without a tenant = %v, want field.ErrNoTenant", err)
	}
	if err := e.db.WithContext(ctxFor("acme")).Select("id", "name").Find(&got).Error; err != nil || len(got) != 1 || got[0].Name != "Ann" {
		t.Fatalf("Select(id, name).Find with the context tenant = %+v, %v", got, err)
	}
}

func testMovedCiphertext(t *testing.T, e *env) {
	ann, bob := newPatient("Ann"), newPatient("Bob")
	e.create(t, "acme", &ann)
	e.create(t, "globex", &bob)
	// Paste acme's ciphertext into globex's row: it must not open.
	e.exec(t, "UPDATE patients SET name = (SELECT name FROM patients WHERE id = "+e.ph(1)+") WHERE id = "+e.ph(2), ann.ID, bob.ID)
	var got Patient
	err := e.db.WithContext(ctxFor("globex")).First(&got, bob.ID).Error
	if !errors.Is(err, codec.ErrAuth) {
		t.Fatalf("First(row with another tenant's ciphertext) = %v, want codec.ErrAuth", err)
	}
	if got.Name != "" {
		t.Fatalf("First left Name = %q, want it empty", got.Name)
	}
}

func testNullAndTypes(t *testing.T, e *env) {
	p := newPatient("Ann")
	p.Age = nil
	e.create(t, "acme", &p)
	if b := e.rawBytes(t, "patients", "age", p.ID); b != nil {
		t.Fatalf("stored age = %x, want NULL for a nil pointer", b)
	}
	var got Patient
	got.Age = ptr(7) // overwritten with NULL
	if err := e.db.WithContext(ctxFor("acme")).First(&got, p.ID).Error; err != nil {
		t.Fatalf("First = %v", err)
	}
	samePatient(t, got, p)
	// An empty string is a value, not NULL.
	q := newPatient("Bob")
	q.Notes = ""
	e.create(t, "acme", &q)
	if b := e.rawBytes(t, "patients", "notes", q.ID); !codec.IsArmored(b) {
		t.Fatalf("stored empty notes = %q, want an armored value", b)
	}
}

func testMaps(t *testing.T, e *env) {
	ctx := ctxFor("acme")
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	var rows []map[string]any
	if err := e.db.WithContext(ctx).Model(&Patient{}).Find(&rows).Error; err != nil {
		t.Fatalf("Find([]map) = %v", err)
	}
	if len(rows) != 1 || rows[0]["name"] != "Ann" || rows[0]["email"] != "ann@example.com" {
		t.Fatalf("Find([]map) = %v, want Ann's plaintext", rows)
	}
	m := map[string]any{"Body": "from a map"}
	if err := e.db.WithContext(ctx).Model(&Memo{}).Create(m).Error; err != nil {
		t.Fatalf("Create(map) = %v", err)
	}
	if m["Body"] != "from a map" {
		t.Fatalf("Create(map) changed the caller's map to %v", m)
	}
	testhelpers.AssertNoPlaintext(t, e.raw, "memos", "body", "from a map")
	var memos []Memo
	if err := e.db.WithContext(ctx).Find(&memos).Error; err != nil || len(memos) != 1 || memos[0].Body != "from a map" {
		t.Fatalf("Find(Memo) = %+v, %v", memos, err)
	}
}

func testPluck(t *testing.T, e *env) {
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	var names []string
	err := e.db.WithContext(ctxFor("acme")).Model(&Patient{}).Pluck("name", &names).Error
	if !errors.Is(err, gormplugin.ErrUnsupported) {
		t.Fatalf("Pluck(name) = %v, %q; want ErrUnsupported", err, names)
	}
	var ids []uint
	if err := e.db.Model(&Patient{}).Pluck("id", &ids).Error; err != nil || len(ids) != 1 {
		t.Fatalf("Pluck(id) = %v, %v; want one id", ids, err)
	}
}

func testAllowPlaintext(t *testing.T, e *env) {
	ctx := ctxFor("acme")
	e.exec(t, "INSERT INTO legacy_notes (tenant_id, body) VALUES ("+e.ph(1)+", "+e.ph(2)+")", "acme", "written before colcrypt")
	n := LegacyNote{Body: "written after"}
	if err := e.db.WithContext(ctx).Create(&n).Error; err != nil {
		t.Fatalf("Create = %v", err)
	}
	if b := e.rawBytes(t, "legacy_notes", "body", n.ID); !codec.IsArmored(b) {
		t.Fatalf("stored body = %q, want text armor", b)
	}
	var notes []LegacyNote
	if err := e.db.WithContext(ctx).Order("id").Find(&notes).Error; err != nil {
		t.Fatalf("Find = %v", err)
	}
	if len(notes) != 2 || notes[0].Body != "written before colcrypt" || notes[1].Body != "written after" {
		t.Fatalf("Find = %+v, want the plaintext row and the encrypted one", notes)
	}
	// The tenant rule holds for plaintext rows too.
	if err := e.db.WithContext(ctxFor("globex")).First(&LegacyNote{}, notes[0].ID).Error; !errors.Is(err, field.ErrTenantMismatch) {
		t.Fatalf("First(acme's plaintext row) for globex = %v, want ErrTenantMismatch", err)
	}
	// Without allowplaintext, a plaintext value is an error naming it.
	p := newPatient("Ann")
	e.create(t, "acme", &p)
	e.exec(t, "UPDATE patients SET name = "+e.ph(1)+" WHERE id = "+e.ph(2), []byte("not encrypted"), p.ID)
	if err := e.db.WithContext(ctx).First(&Patient{}, p.ID).Error; !errors.Is(err, field.ErrNotEncrypted) {
		t.Fatalf("First(row with a plaintext name) = %v, want field.ErrNotEncrypted", err)
	}
}

func testAutoMigrateColumns(t *testing.T, e *env) {
	var n int
	if err := e.raw.QueryRow("SELECT count(*) FROM colcrypt_keys").Scan(&n); err != nil {
		t.Fatalf("key table: %v", err)
	}
	want := map[string]string{"name": "bytea", "notes": "text", "email_bidx": "bytea", "age": "bytea", "born": "bytea"}
	switch e.dialect {
	case "sqlite":
		want = map[string]string{"name": "blob", "notes": "text", "email_bidx": "blob", "age": "blob", "born": "blob"}
	case "mysql":
		// The blind index is VARBINARY of its length (MySQL indexes a BLOB
		// only by a prefix length), and the tenant VARBINARY, compared byte for byte.
		want = map[string]string{"name": "longblob", "notes": "longtext", "email_bidx": "varbinary", "age": "longblob", "born": "longblob", "tenant_id": "varbinary"}
	}
	cols, err := e.db.Migrator().ColumnTypes(&Patient{})
	if err != nil {
		t.Fatalf("ColumnTypes = %v", err)
	}
	for _, c := range cols {
		if w, ok := want[c.Name()]; ok {
			if got := strings.ToLower(c.DatabaseTypeName()); got != w {
				t.Errorf("column %s is %s, want %s", c.Name(), got, w)
			}
			if e.dialect == "mysql" && c.Name() == "email_bidx" {
				if n, ok := c.Length(); !ok || n != cipher.DefaultBlindIndexLen {
					t.Errorf("column email_bidx Length() = %d, %t; want %d, true", n, ok, cipher.DefaultBlindIndexLen)
				}
			}
			delete(want, c.Name())
		}
	}
	if len(want) != 0 {
		t.Errorf("columns not found: %v", want)
	}
	// The `gorm:"index"` on the blind index was created (on MySQL only a
	// bounded binary column can be indexed whole).
	if !e.db.Migrator().HasIndex(&Patient{}, "idx_patients_email_bidx") {
		t.Errorf("HasIndex(Patient, idx_patients_email_bidx) = false, want true")
	}
}
