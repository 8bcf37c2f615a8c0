package sqltypes_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// TestNotNull: NULL is never encrypted, so someone who writes the database
// can erase a value by setting it to NULL; a nullable column reads that as
// an absent value. NotNull (or the notnull tag through WithSpec) makes the
// read an error, and refuses to write NULL, on every backend.
func TestNotNull(t *testing.T) {
	spec, err := fieldcore.ParseTag("Diagnosis", "notnull")
	if err != nil || !spec.NotNull {
		t.Fatalf("ParseTag(notnull) = %+v, %v; want NotNull", spec, err)
	}
	for i, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			table := fmt.Sprintf("notnull_%d", i)
			if err := b.exec(ctx, `CREATE TABLE `+table+` (id integer PRIMARY KEY, v `+b.blob+`)`); err != nil {
				t.Fatal(err)
			}
			plain := sqltypes.NewColumn[*string](b.enc, table, "v")
			for name, strict := range map[string]*sqltypes.Column[*string]{
				"NotNull":  sqltypes.NewColumn[*string](b.enc, table, "v", sqltypes.NotNull()),
				"WithSpec": sqltypes.NewColumn[*string](b.enc, table, "v", sqltypes.WithSpec(spec)),
			} {
				if _, err := strict.Seal(ctx, "acme", nil); !errors.Is(err, sqltypes.ErrNull) {
					t.Errorf("%s: Seal(nil) err = %v, want ErrNull", name, err)
				}
				if err := b.exec(ctx, b.sub(`INSERT INTO `+table+` (id, v) VALUES (?, ?)`), 99, strict.Value(ctx, "acme", nil)); !errors.Is(err, sqltypes.ErrNull) {
					t.Errorf("%s: INSERT of a nil Value err = %v, want ErrNull", name, err)
				}
			}
			v := "J45.909"
			if err := b.exec(ctx, b.sub(`INSERT INTO `+table+` (id, v) VALUES (?, ?)`), 1, plain.Value(ctx, "acme", &v)); err != nil {
				t.Fatal(err)
			}
			if err := b.exec(ctx, `UPDATE `+table+` SET v = NULL`); err != nil { // the erasure
				t.Fatal(err)
			}
			out := &v
			if err := b.row(ctx, `SELECT v FROM `+table).Scan(plain.Scan(ctx, "acme", &out)); err != nil || out != nil {
				t.Fatalf("nullable Scan(NULL) = %v, %v; want nil, nil", out, err)
			}
			strict := sqltypes.NewColumn[*string](b.enc, table, "v", sqltypes.NotNull())
			out = &v
			if err := b.row(ctx, `SELECT v FROM `+table).Scan(strict.Scan(ctx, "acme", &out)); !errors.Is(err, sqltypes.ErrNull) {
				t.Fatalf("NotNull Scan(NULL) err = %v, want ErrNull", err)
			}
		})
	}
}
