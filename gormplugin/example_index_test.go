package gormplugin_test

import (
	"context"
	"fmt"
	"log"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
)

// ExampleApplicant's SSN has two indexes (the whole number, and its last four
// digits with the zip code); each index lives in a []byte field of its
// own, tagged index:<name> with the fields and transforms it reads.
type ExampleApplicant struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	Name     string `gorm:"serializer:colcrypt"`
	SSN      string `gorm:"serializer:colcrypt"`
	Zip      string `gorm:"serializer:colcrypt"`
	SSNFull  []byte `gorm:"index" colcrypt:"index:ssn_full,parts:SSN/digits,bits:64"`
	Last4Zip []byte `gorm:"index" colcrypt:"index:ssn_zip,parts:SSN/digits/last4+Zip/trim,bits:32"`
}

// Named and compound indexes: every write computes every index of the
// row; Match by an index name takes one value per part.
func Example_compoundIndex() {
	ctx := field.WithTenant(context.Background(), "acme")
	db, cleanup := exampleDB(ctx)
	defer cleanup()
	if err := gormplugin.AutoMigrate(db, &ExampleApplicant{}); err != nil {
		log.Fatal(err)
	}
	applicants := []ExampleApplicant{
		{Name: "Ann", SSN: "123-45-6789", Zip: "94110"},
		{Name: "Bob", SSN: "987-65-6789", Zip: "94110"},
		{Name: "Cy", SSN: "111-22-6789", Zip: "10001"},
	}
	if err := db.WithContext(ctx).Create(&applicants).Error; err != nil {
		log.Fatal(err)
	}

	var found []ExampleApplicant
	err := db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "ssn_zip", "6789", " 94110")).Order("id").Find(&found).Error
	for _, a := range found {
		fmt.Println("last4+zip:", a.Name)
	}
	fmt.Println(err)

	found = nil
	err = db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "ssn_full", "111 22 6789")).Find(&found).Error
	for _, a := range found {
		fmt.Println("full SSN:", a.Name)
	}
	fmt.Println(err)

	// An update of the zip alone would leave ssn_zip stale: refused.
	err = db.WithContext(ctx).Model(&applicants[0]).Update("zip", "10001").Error
	fmt.Println(err != nil)
	// Output:
	// last4+zip: Ann
	// last4+zip: Bob
	// <nil>
	// full SSN: Cy
	// <nil>
	// true
}
