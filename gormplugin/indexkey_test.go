package gormplugin_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/keystore"
)

// A UniqueAccount's email is unique per blind index: the index column
// carries a UNIQUE constraint, which only holds across data-key rotations
// because the index is taken under the tenant's index key.
type UniqueAccount struct {
	ID        uint
	TenantID  string `gorm:"size:64" colcrypt:"tenant"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte `gorm:"uniqueIndex"`
}

// LegacyAccount and MigratingAccount are one table seen through two
// tags: rows written by a release before index keys (indexkey:legacy),
// then read while the column migrates (indexkey:migrating).
type LegacyAccount struct {
	ID        uint
	TenantID  string `gorm:"size:64" colcrypt:"tenant"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower,indexkey:legacy"`
	EmailBidx []byte `gorm:"index"`
}

func (LegacyAccount) TableName() string { return "legacy_accounts" }

type MigratingAccount struct {
	ID        uint
	TenantID  string `gorm:"size:64" colcrypt:"tenant"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower,indexkey:migrating"`
	EmailBidx []byte `gorm:"index"`
}

func (MigratingAccount) TableName() string { return "legacy_accounts" }

// queryVars records the bound values of every query GORM runs.
type queryVars struct {
	mu   sync.Mutex
	vars [][]any
}

func recordQueries(t *testing.T, db *gorm.DB) *queryVars {
	t.Helper()
	r := &queryVars{}
	err := db.Callback().Query().After("gorm:query").Register("test:record_vars", func(tx *gorm.DB) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.vars = append(r.vars, append([]any(nil), tx.Statement.Vars...))
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// last returns how many []byte values the last query bound.
func (r *queryVars) lastByteArgs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.vars[len(r.vars)-1] {
		if _, ok := v.([]byte); ok {
			n++
		}
	}
	return n
}

func TestUniqueBlindIndexAcrossRotations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, &UniqueAccount{})
		rec := recordQueries(t, e.db)
		ctx := ctxFor("acme")
		create := func(email string) error {
			return e.db.WithContext(ctx).Create(&UniqueAccount{Email: email}).Error
		}
		match := func(email string) []UniqueAccount {
			t.Helper()
			var got []UniqueAccount
			if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", email)).Find(&got).Error; err != nil {
				t.Fatalf("Match(%q) = %v", email, err)
			}
			if n := rec.lastByteArgs(); n != 1 {
				t.Fatalf("Match(%q) bound %d index values, want 1", email, n)
			}
			return got
		}
		if err := create("ann@example.com"); err != nil {
			t.Fatalf("Create(ann) = %v", err)
		}
		if err := create(" ANN@example.com"); err == nil {
			t.Fatal("Create(duplicate ann) before rotation = nil, want the UNIQUE index to refuse it")
		}
		for range 3 {
			if _, err := e.keys.Rotate(context.Background(), "acme"); err != nil {
				t.Fatalf("Rotate() = %v", err)
			}
		}
		if err := create("Ann@Example.com "); err == nil {
			t.Fatal("Create(duplicate ann) after 3 rotations = nil, want the UNIQUE index to refuse it")
		}
		if err := create("bob@example.com"); err != nil {
			t.Fatalf("Create(bob) after rotations = %v", err)
		}
		if got := match("ANN@example.com"); len(got) != 1 || got[0].Email != "ann@example.com" {
			t.Fatalf("Match(ann) after 3 rotations = %+v, want the one row written before them", got)
		}
		if got := match("bob@example.com"); len(got) != 1 {
			t.Fatalf("Match(bob) = %d rows, want 1", len(got))
		}
		// Another tenant's index is under another key: its equal email
		// is no duplicate, and neither tenant finds the other's row.
		other := ctxFor("globex")
		if err := e.db.WithContext(other).Create(&UniqueAccount{Email: "ann@example.com"}).Error; err != nil {
			t.Fatalf("Create(globex ann) = %v", err)
		}
		if got := match("ann@example.com"); len(got) != 1 || got[0].TenantID != "acme" {
			t.Fatalf("Match(acme ann) = %+v, want acme's row only", got)
		}
	})
}

func TestLegacyBlindIndexStillMatches(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{}, &LegacyAccount{})
		rec := recordQueries(t, e.db)
		ctx := ctxFor("acme")
		if err := e.db.WithContext(ctx).Create(&LegacyAccount{Email: "ann@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := e.keys.Rotate(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
		if err := e.db.WithContext(ctx).Create(&LegacyAccount{Email: "Ann@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		var legacy []LegacyAccount
		if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&legacy).Error; err != nil {
			t.Fatal(err)
		}
		if len(legacy) != 2 || rec.lastByteArgs() != 2 {
			t.Fatalf("legacy Match = %d rows with %d index values, want 2 rows with one value per data key version (2)", len(legacy), rec.lastByteArgs())
		}
		// Migrating: new rows get the stable index, and a lookup finds
		// the rows of every kind.
		if err := e.db.WithContext(ctx).Create(&MigratingAccount{Email: "ANN@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		var all []MigratingAccount
		if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || rec.lastByteArgs() != 3 {
			t.Fatalf("migrating Match = %d rows with %d index values, want 3 rows, 1 stable + 2 legacy values", len(all), rec.lastByteArgs())
		}
		// The row written as migrating is not found by the legacy tag:
		// its index is the stable one.
		legacy = nil
		if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&legacy).Error; err != nil {
			t.Fatal(err)
		}
		if len(legacy) != 2 {
			t.Fatalf("legacy Match after a migrating write = %d rows, want 2", len(legacy))
		}
		if !strings.EqualFold(all[2].Email, "ann@example.com") {
			t.Fatalf("migrating row = %+v", all[2])
		}
	})
}

// AutoAccount is legacy_accounts seen through the default keying, as an
// application upgraded from a release before index keys tags it without
// an indexkey option.
type AutoAccount struct {
	ID        uint
	TenantID  string `gorm:"size:64" colcrypt:"tenant"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte `gorm:"index"`
}

func (AutoAccount) TableName() string { return "legacy_accounts" }

// TestDefaultKeyingFindsUpgradedRows: with no indexkey option, rows whose
// blind index a release before index keys took under the data key keep
// matching — through Match and the rewritten Where — for the tenants and
// versions the key store's legacy index table records (what the upgrade
// to schema version 4 writes, MarkLegacyIndexes here); new rows get the
// index key's value; a version made after the mark, and a tenant made
// after it or cleared, add no lookup value.
func TestDefaultKeyingFindsUpgradedRows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d dialect) {
		// A short cache TTL, so that the store sees the clear below soon.
		const ttl = time.Second
		e := newEnv(t, d, envOptions{keyOpts: []keystore.Option{keystore.WithTuning(keystore.Tuning{CacheTTL: ttl})}}, &LegacyAccount{})
		rec := recordQueries(t, e.db)
		ctx, bg := ctxFor("acme"), context.Background()
		// The old release: one row under each of two data key versions.
		if err := e.db.WithContext(ctx).Create(&LegacyAccount{Email: "ann@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := e.keys.Rotate(bg, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := e.db.WithContext(ctx).Create(&LegacyAccount{Email: "Ann@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		// The upgrade records acme through version 2; then this release
		// rotates and writes.
		if n, err := keystore.MarkLegacyIndexes(bg, e.keyDB); err != nil || n != 1 {
			t.Fatalf("MarkLegacyIndexes() = %d, %v; want 1 tenant", n, err)
		}
		if _, err := e.keys.Rotate(bg, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := e.db.WithContext(ctx).Create(&AutoAccount{Email: "ANN@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		find := func(wantRows, wantValues int, how string) {
			t.Helper()
			var got []AutoAccount
			if err := e.db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&got).Error; err != nil {
				t.Fatal(err)
			}
			if len(got) != wantRows || rec.lastByteArgs() != wantValues {
				t.Fatalf("%s: Match = %d rows with %d index values, want %d rows with %d", how, len(got), rec.lastByteArgs(), wantRows, wantValues)
			}
			got = nil
			if err := e.db.WithContext(ctx).Where("email = ?", " Ann@Example.com").Find(&got).Error; err != nil {
				t.Fatal(err)
			}
			if len(got) != wantRows || rec.lastByteArgs() != wantValues {
				t.Fatalf("%s: Where(email = ?) = %d rows with %d index values, want %d rows with %d", how, len(got), rec.lastByteArgs(), wantRows, wantValues)
			}
			for _, a := range got {
				if !strings.EqualFold(a.Email, "ann@example.com") {
					t.Fatalf("%s: row %+v", how, a)
				}
			}
		}
		// 1 index key value + versions 1 and 2, not 3.
		find(3, 3, "after the upgrade")

		// A tenant made after the upgrade sends one value.
		other := ctxFor("globex")
		if err := e.db.WithContext(other).Create(&AutoAccount{Email: "ann@example.com"}).Error; err != nil {
			t.Fatal(err)
		}
		var g []AutoAccount
		if err := e.db.WithContext(other).Scopes(gormplugin.Match(other, "Email", "ann@example.com")).Find(&g).Error; err != nil {
			t.Fatal(err)
		}
		if len(g) != 1 || rec.lastByteArgs() != 1 || g[0].TenantID != "globex" {
			t.Fatalf("globex Match = %+v with %d index values, want its one row with 1", g, rec.lastByteArgs())
		}

		// Cleared (after a reindex, say): one value, and the rows still
		// under the data key are no longer found.
		if n, err := keystore.ClearLegacyIndexes(bg, e.keyDB, "acme"); err != nil || n != 1 {
			t.Fatalf("ClearLegacyIndexes(acme) = %d, %v; want 1", n, err)
		}
		time.Sleep(ttl + ttl/5)
		find(1, 1, "after ClearLegacyIndexes")
	})
}
