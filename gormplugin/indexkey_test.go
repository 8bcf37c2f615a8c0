package gormplugin_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/gormplugin"
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
