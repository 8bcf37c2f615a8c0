package sqltypes_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// TestNamedIndex: on Postgres, SQLite and MariaDB/MySQL, a compound
// index (last four digits of the SSN and the zip code) and a second
// index on the SSN alone, written with Index.Value and found with
// Index.Match, find exactly the matching rows of the tenant, before and
// after a key rotation.
func TestNamedIndex(t *testing.T) {
	type db struct {
		name   string
		open   func(t *testing.T) (*sql.DB, *keystore.Store, *field.Encryptor)
		blob   string
		dollar bool
	}
	for _, d := range []db{
		{"postgres", func(t *testing.T) (*sql.DB, *keystore.Store, *field.Encryptor) {
			e := newPG(t)
			return e.db, e.keys, e.enc
		}, "bytea", true},
		{"sqlite", func(t *testing.T) (*sql.DB, *keystore.Store, *field.Encryptor) {
			e := newSQLite(t)
			return e.db, e.keys, e.enc
		}, "blob", false},
		{"mysql", func(t *testing.T) (*sql.DB, *keystore.Store, *field.Encryptor) {
			e := newMySQL(t)
			return e.db, e.keys, e.enc
		}, "varbinary(64)", false},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, keys, enc := d.open(t)
			ph := func(n int) string {
				if d.dollar {
					return fmt.Sprintf("$%d", n)
				}
				return "?"
			}
			table := "named_index_" + d.name
			mustExec(t, db, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, tenant_id varchar(32), ssn %s, zip %s, ssn_zip %s, ssn_full %s)`,
				table, d.blob, d.blob, d.blob, d.blob))
			ssn := sqltypes.NewColumn[string](enc, table, "ssn")
			zip := sqltypes.NewColumn[string](enc, table, "zip")
			ssnZip, err := sqltypes.NewIndex(enc, table, "index:ssn_zip,parts:ssn/digits/last4+zip/trim,bits:20")
			if err != nil {
				t.Fatalf("NewIndex(ssn_zip): %v", err)
			}
			ssnFull, err := sqltypes.NewIndex(enc, table, "index:ssn_full,parts:ssn/digits")
			if err != nil {
				t.Fatalf("NewIndex(ssn_full): %v", err)
			}
			if ssnZip.Len() != 3 || ssnFull.Len() != 16 || ssnZip.Name() != "ssn_zip" {
				t.Fatalf("Len = %d, %d, want 3, 16", ssnZip.Len(), ssnFull.Len())
			}
			insert := func(id int, tenant, s, z string) {
				t.Helper()
				sz, err := ssnZip.Value(ctx, tenant, s, z)
				if err != nil {
					t.Fatalf("Value(ssn_zip): %v", err)
				}
				if len(sz) != 3 || sz[2]&0x0F != 0 {
					t.Fatalf("Value(ssn_zip) = %x, want 20 bits in 3 bytes", sz)
				}
				sf, err := ssnFull.Value(ctx, tenant, s)
				if err != nil {
					t.Fatalf("Value(ssn_full): %v", err)
				}
				mustExec(t, db, fmt.Sprintf(`INSERT INTO %s VALUES (%s, %s, %s, %s, %s, %s)`, table, ph(1), ph(2), ph(3), ph(4), ph(5), ph(6)),
					id, tenant, ssn.Value(ctx, tenant, s), zip.Value(ctx, tenant, z), sz, sf)
			}
			find := func(tenant, column string, x *sqltypes.Index, values ...any) []int {
				t.Helper()
				cands, err := x.Match(ctx, tenant, values...)
				if err != nil {
					t.Fatalf("Match(%s): %v", x.Name(), err)
				}
				if len(cands) == 0 {
					return nil
				}
				args := []any{tenant}
				var in []string
				for i, c := range cands {
					args = append(args, c)
					in = append(in, ph(i+2))
				}
				q := fmt.Sprintf(`SELECT id FROM %s WHERE tenant_id = %s AND %s IN (%s) ORDER BY id`, table, ph(1), column, strings.Join(in, ", "))
				rows, err := db.QueryContext(ctx, q, args...)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				defer rows.Close()
				var ids []int
				for rows.Next() {
					var id int
					if err := rows.Scan(&id); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return ids
			}
			insert(1, "acme", "123-45-6789", "94110")
			insert(2, "acme", "987-65-6789", "94110 ")
			insert(3, "acme", "111-22-6789", "10001")
			insert(4, "acme", "123-45-0000", "94110")
			insert(5, "globex", "123-45-6789", "94110")
			if _, err := keys.Rotate(ctx, "acme"); err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			insert(6, "acme", "222-33-6789", "94110")

			for _, c := range []struct {
				tenant string
				column string
				x      *sqltypes.Index
				values []any
				want   []int
			}{
				{"acme", "ssn_zip", ssnZip, []any{"6789", "94110"}, []int{1, 2, 6}},
				{"acme", "ssn_zip", ssnZip, []any{"000-00-6789", " 10001"}, []int{3}},
				{"acme", "ssn_zip", ssnZip, []any{"0000", "10001"}, nil},
				{"globex", "ssn_zip", ssnZip, []any{"6789", "94110"}, []int{5}},
				{"acme", "ssn_full", ssnFull, []any{"123 45 6789"}, []int{1}},
				{"acme", "ssn_full", ssnFull, []any{"222336789"}, []int{6}},
			} {
				if got := find(c.tenant, c.column, c.x, c.values...); !slices.Equal(got, c.want) {
					t.Errorf("%s: Match(%s, %q) = rows %v, want %v", c.tenant, c.x.Name(), c.values, got, c.want)
				}
			}
			// A named index is taken under the tenant's index key, which
			// the data-key rotation left alone: still one value to match.
			cands, err := ssnZip.Match(ctx, "acme", "6789", "94110")
			if err != nil || len(cands) != 1 {
				t.Errorf("after one rotation, Match = %x, %v, want one value", cands, err)
			}
		})
	}
}

func TestNamedIndexErrors(t *testing.T) {
	enc := newSQLite(t).enc
	for _, tag := range []string{
		"", "deterministic", "blindindex:b", "index:i", "parts:a+b", "index:i,parts:a,bits:300",
		"index:i,parts:a/last0", "index:i-j,parts:a", "index:i,parts:a,armor",
	} {
		x, err := sqltypes.NewIndex(enc, "t", tag)
		var te *field.TagError
		if x != nil || !errors.As(err, &te) {
			t.Errorf("NewIndex(%q) = %v, %v, want a *field.TagError", tag, x, err)
		}
	}
	x, err := sqltypes.NewIndex(enc, "t", "index:ssn_zip,parts:ssn/last4+zip")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, values := range [][]any{{"6789"}, {"6789", "94110", "x"}, nil} {
		var ce *sqltypes.ColumnError
		if _, err := x.Value(ctx, "acme", values...); !errors.Is(err, field.ErrIndexParts) || !errors.As(err, &ce) {
			t.Errorf("Value(%q) err = %v, want field.ErrIndexParts in a *ColumnError", values, err)
		}
		if _, err := x.Match(ctx, "acme", values...); !errors.Is(err, field.ErrIndexParts) {
			t.Errorf("Match(%q) err = %v, want field.ErrIndexParts", values, err)
		}
	}
	// A NULL part: a NULL index, and no candidates.
	var none *string
	if v, err := x.Value(ctx, "acme", none, "94110"); v != nil || err != nil {
		t.Errorf("Value(nil, zip) = %x, %v, want nil, nil", v, err)
	}
	if c, err := x.Match(ctx, "acme", sql.NullString{}, "94110"); len(c) != 0 || err != nil {
		t.Errorf("Match(NULL, zip) = %x, %v, want none", c, err)
	}
	if v, err := x.Value(ctx, "", "6789", "94110"); !errors.Is(err, field.ErrNoTenant) || v != nil {
		t.Errorf("Value without a tenant = %x, %v, want ErrNoTenant", v, err)
	}
}

// TestNamedIndexRotating: a named index tagged indexkey:rotating is taken,
// and looked up, under the tenant's index key version before the active
// one, so that the old column keeps its values while an index key
// rotation fills a new one; the same index without it moves to the new
// version. A named index under a data key (legacy, migrating) is refused.
func TestNamedIndexRotating(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	const def = "index:ssn_zip,parts:ssn/digits/last4+zip/trim"
	stable, err := sqltypes.NewIndex(e.enc, "people", def)
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := sqltypes.NewIndex(e.enc, "people", def+",indexkey:rotating")
	if err != nil {
		t.Fatal(err)
	}
	value := func(x *sqltypes.Index) []byte {
		t.Helper()
		v, err := x.Value(ctx, "acme", "123-45-6789", "94110 ")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	match := func(x *sqltypes.Index) [][]byte {
		t.Helper()
		c, err := x.Match(ctx, "acme", "123456789", "94110")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := value(stable)
	if got := value(rotating); !slices.Equal(got, before) {
		t.Fatalf("rotating with one index key version = %x, want the stable value %x", got, before)
	}
	if _, err := e.keys.RotateIndexKey(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	after := value(stable)
	if slices.Equal(after, before) {
		t.Fatal("the stable index did not move to the new index key version")
	}
	if got := value(rotating); !slices.Equal(got, before) {
		t.Fatalf("rotating after the rotation = %x, want the old value %x", got, before)
	}
	if c := match(rotating); len(c) != 1 || !slices.Equal(c[0], before) {
		t.Fatalf("rotating Match = %x, want [%x]", c, before)
	}
	if c := match(stable); len(c) != 1 || !slices.Equal(c[0], after) {
		t.Fatalf("stable Match = %x, want [%x]", c, after)
	}
	for _, k := range []string{"legacy", "migrating", "sideways"} {
		var te *field.TagError
		if x, err := sqltypes.NewIndex(e.enc, "people", def+",indexkey:"+k); x != nil || !errors.As(err, &te) {
			t.Errorf("NewIndex(indexkey:%s) = %v, %v, want a *field.TagError", k, x, err)
		}
	}
}
