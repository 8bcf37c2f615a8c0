package sqltypes_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// A compound index over the last four digits of an SSN and a zip code,
// written and matched beside two encrypted columns.
func ExampleNewIndex() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "colcrypt-example")
	defer os.RemoveAll(dir)
	db, enc := exampleEncryptor(ctx, dir)
	defer db.Close()

	if _, err := db.Exec(`CREATE TABLE applicants (id INTEGER PRIMARY KEY, name BLOB, ssn BLOB, zip BLOB, ssn_zip BLOB)`); err != nil {
		log.Fatal(err)
	}
	name := sqltypes.NewColumn[string](enc, "applicants", "name")
	ssn := sqltypes.NewColumn[string](enc, "applicants", "ssn")
	zip := sqltypes.NewColumn[string](enc, "applicants", "zip")
	ssnZip, err := sqltypes.NewIndex(enc, "applicants", "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:32")
	if err != nil {
		log.Fatal(err)
	}
	ctx = field.WithTenant(ctx, "acme")

	for id, a := range [][3]string{{"Ann", "123-45-6789", "94110"}, {"Bob", "987-65-6789", "10001"}} {
		idx, err := ssnZip.Value(ctx, "", a[1], a[2]) // one value per part, in order
		if err != nil {
			log.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO applicants VALUES (?, ?, ?, ?, ?)`, id,
			name.Value(ctx, "", a[0]), ssn.Value(ctx, "", a[1]), zip.Value(ctx, "", a[2]), idx); err != nil {
			log.Fatal(err)
		}
	}

	cands, err := ssnZip.Match(ctx, "", "6789", "10001")
	if err != nil {
		log.Fatal(err)
	}
	var found string
	err = db.QueryRowContext(ctx, `SELECT name FROM applicants WHERE ssn_zip IN (?)`, cands[0]).Scan(name.Scan(ctx, "", &found))
	fmt.Println(found, err, ssnZip.Len())
	// Output:
	// Bob <nil> 4
}
