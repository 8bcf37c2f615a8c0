package sqltypes_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// Row binding: with WithTag("bind") each value is bound to its row's key (here a
// natural key known before the insert), so a value copied into another
// row of the same tenant and column, by someone who can write the
// database, fails to open instead of showing one employee another's
// salary.
func ExampleColumn_Row() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "colcrypt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, enc := exampleEncryptor(ctx, dir)
	defer db.Close()

	if _, err := db.Exec(`CREATE TABLE employees (badge TEXT PRIMARY KEY, salary BLOB NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	salary := sqltypes.NewColumn[int](enc, "employees", "salary", sqltypes.WithTag("bind"))
	for badge, pay := range map[string]int{"E-1001": 98000, "E-1002": 51000} {
		if _, err := db.ExecContext(ctx, `INSERT INTO employees VALUES (?, ?)`,
			badge, salary.Row(badge).Value(ctx, "acme", pay)); err != nil {
			log.Fatal(err)
		}
	}

	// The row's key column comes first in the SELECT, and Row reads it
	// through the pointer when the salary is scanned.
	var badge string
	var pay int
	err = db.QueryRowContext(ctx, `SELECT badge, salary FROM employees WHERE badge = 'E-1002'`).
		Scan(&badge, salary.Row(&badge).Scan(ctx, "acme", &pay))
	fmt.Println(badge, pay, err)

	// Copy E-1001's value over E-1002's, as an attacker with write access
	// to the table could.
	if _, err := db.Exec(`UPDATE employees SET salary = (SELECT salary FROM employees WHERE badge = 'E-1001') WHERE badge = 'E-1002'`); err != nil {
		log.Fatal(err)
	}
	err = db.QueryRowContext(ctx, `SELECT badge, salary FROM employees WHERE badge = 'E-1002'`).
		Scan(&badge, salary.Row(&badge).Scan(ctx, "acme", &pay))
	fmt.Println("copied value:", errors.Is(err, codec.ErrAuth))

	// A bound column without its row key seals nothing.
	_, err = salary.Seal(ctx, "acme", 1)
	fmt.Println("no row key:", errors.Is(err, field.ErrNoRowKey))
	// Output:
	// E-1002 51000 <nil>
	// copied value: true
	// no row key: true
}

// NULL is never encrypted, so anyone who can write the database can erase
// a value by setting it to NULL. The notnull tag makes that an error on read, and
// a nil written by the application an error on write, for a nullable Go
// type too.
func ExampleWithTag_notnull() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "colcrypt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, enc := exampleEncryptor(ctx, dir)
	defer db.Close()

	if _, err := db.Exec(`CREATE TABLE patients (id INTEGER PRIMARY KEY, allergies BLOB)`); err != nil {
		log.Fatal(err)
	}
	allergies := sqltypes.NewColumn[*string](enc, "patients", "allergies", sqltypes.WithTag("notnull"))
	penicillin := "penicillin"
	if _, err := db.ExecContext(ctx, `INSERT INTO patients VALUES (1, ?)`, allergies.Value(ctx, "acme", &penicillin)); err != nil {
		log.Fatal(err)
	}

	_, err = db.ExecContext(ctx, `INSERT INTO patients VALUES (2, ?)`, allergies.Value(ctx, "acme", nil))
	fmt.Println("write nil:", errors.Is(err, field.ErrNull))

	// Erase the value behind the application's back.
	if _, err := db.Exec(`UPDATE patients SET allergies = NULL WHERE id = 1`); err != nil {
		log.Fatal(err)
	}
	var got *string
	err = db.QueryRowContext(ctx, `SELECT allergies FROM patients WHERE id = 1`).Scan(allergies.Scan(ctx, "acme", &got))
	fmt.Println("read NULL:", errors.Is(err, field.ErrNull))
	// Output:
	// write nil: true
	// read NULL: true
}

// database/sql's Null types are nullable columns: Valid=false is stored as
// NULL (nothing is encrypted) and NULL scans as Valid=false. A valid value
// is sealed as its inner value, so a column written as string reads as
// sql.NullString, and the reverse, without re-encrypting.
func ExampleNewColumn_nullTypes() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "colcrypt-example")
	defer os.RemoveAll(dir)
	db, enc := exampleEncryptor(ctx, dir)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE contacts (id INTEGER PRIMARY KEY, email BLOB, visits BLOB)`); err != nil {
		log.Fatal(err)
	}
	email := sqltypes.NewColumn[sql.NullString](enc, "contacts", "email")
	visits := sqltypes.NewColumn[sql.Null[int64]](enc, "contacts", "visits")
	ctx = field.WithTenant(ctx, "acme")

	_, err := db.ExecContext(ctx, `INSERT INTO contacts VALUES (1, ?, ?)`,
		email.Value(ctx, "", sql.NullString{String: "ann@example.com", Valid: true}),
		visits.Value(ctx, "", sql.Null[int64]{})) // NULL
	if err != nil {
		log.Fatal(err)
	}
	var isNull bool
	db.QueryRow(`SELECT visits IS NULL FROM contacts WHERE id = 1`).Scan(&isNull)
	fmt.Println("visits stored as NULL:", isNull)

	var e sql.NullString
	var v sql.Null[int64]
	var bare string
	asString := sqltypes.NewColumn[string](enc, "contacts", "email")
	err = db.QueryRowContext(ctx, `SELECT email, visits, email FROM contacts WHERE id = 1`).
		Scan(email.Scan(ctx, "", &e), visits.Scan(ctx, "", &v), asString.Scan(ctx, "", &bare))
	fmt.Println(e.String, e.Valid, v.Valid, bare, err)
	// Output:
	// visits stored as NULL: true
	// ann@example.com true false ann@example.com <nil>
}
