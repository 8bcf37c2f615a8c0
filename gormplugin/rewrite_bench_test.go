package gormplugin_test

import (
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/gormplugin"
)

// BenchmarkLookup finds one patient of 1,000 by email on local Postgres,
// through the Match scope and through the rewritten Where, one after the
// other in each round: the rewrite should cost what Match costs, since
// it builds the same condition.
//
//	go test -run='^$' -bench=BenchmarkLookup -benchtime=2000x -count=6 ./gormplugin/
func BenchmarkLookup(b *testing.B) {
	e := newEnv(b, dialects[0], envOptions{}, &Patient{}, &Company{}, &Visit{})
	ps := make([]Patient, 1000)
	for i := range ps {
		ps[i] = newPatient(fmt.Sprintf("P%04d", i))
	}
	ctx := ctxFor("acme")
	db := e.db.WithContext(ctx)
	if err := db.CreateInBatches(&ps, 200).Error; err != nil {
		b.Fatal(err)
	}
	email := ps[500].Email
	run := func(b *testing.B, find func(*gorm.DB, *[]Patient) error) {
		b.ReportAllocs()
		for b.Loop() {
			var got []Patient
			if err := find(db, &got); err != nil || len(got) != 1 {
				b.Fatalf("lookup = %d rows, %v; want 1", len(got), err)
			}
		}
	}
	b.Run("Match", func(b *testing.B) {
		run(b, func(db *gorm.DB, got *[]Patient) error {
			return db.Scopes(gormplugin.Match(ctx, "Email", email)).Find(got).Error
		})
	})
	b.Run("Where", func(b *testing.B) {
		run(b, func(db *gorm.DB, got *[]Patient) error {
			return db.Where("email = ?", email).Find(got).Error
		})
	})
}
