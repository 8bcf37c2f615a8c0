package sqltypes_test

import (
	"context"
	"errors"
	"testing"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/sqltypes"
)

// TestReusedScanner covers a Scanner built once and reused over many
// rows, which from its second value on opens through a field.Handle it
// keeps: every rule the Encryptor's path applies to a value must still
// hold on the rows after the first.
func TestReusedScanner(t *testing.T) {
	e := newSQLite(t)
	ctx := context.Background()
	colA := sqltypes.NewColumn[string](e.enc, "reuse", "a")
	colB := sqltypes.NewColumn[string](e.enc, "reuse", "b")
	seal := func(c *sqltypes.Column[string], tenant, v string) []byte {
		t.Helper()
		b, err := c.Seal(ctx, tenant, v)
		if err != nil {
			t.Fatalf("Seal(%s, %q): %v", tenant, v, err)
		}
		return b
	}
	// scanRows scans each (tenant, value) with one ScanTenant Scanner,
	// as a loop over a multi-tenant SELECT does, and returns each row's
	// result and error.
	scanRows := func(ctx context.Context, c *sqltypes.Column[string], tenants []string, values [][]byte) ([]string, []error) {
		var tenant, dst string
		sc := c.ScanTenant(ctx, &tenant, &dst)
		got, errs := make([]string, len(values)), make([]error, len(values))
		for i, v := range values {
			tenant, dst = tenants[i], ""
			errs[i] = sc.Scan(v)
			got[i] = dst
		}
		return got, errs
	}

	t.Run("tenants and moved values", func(t *testing.T) {
		a1, g1 := seal(colA, "acme", "acme-1"), seal(colA, "globex", "globex-1")
		a2, g2 := seal(colA, "acme", "acme-2"), seal(colA, "globex", "globex-2")
		tenants := []string{"acme", "acme", "globex", "acme", "globex", "acme", "globex", "acme"}
		values := [][]byte{a1, a2, g1, g2, a1, a2, g2, seal(colB, "acme", "b-1")}
		want := []string{"acme-1", "acme-2", "globex-1", "", "", "acme-2", "globex-2", ""}
		got, errs := scanRows(ctx, colA, tenants, values)
		for i := range values {
			switch {
			case want[i] == "" && !errors.Is(errs[i], codec.ErrAuth):
				t.Errorf("row %d (tenant %s): Scan err = %v, want codec.ErrAuth", i, tenants[i], errs[i])
			case want[i] != "" && (errs[i] != nil || got[i] != want[i]):
				t.Errorf("row %d (tenant %s): Scan = %q, %v, want %q", i, tenants[i], got[i], errs[i], want[i])
			}
		}
	})

	t.Run("context tenant", func(t *testing.T) {
		v := seal(colA, "acme", "acme-1")
		other := field.WithTenant(ctx, "globex")
		_, errs := scanRows(other, colA, []string{"acme", "acme", "acme"}, [][]byte{v, v, v})
		for i, err := range errs {
			if !errors.Is(err, field.ErrTenantMismatch) {
				t.Errorf("row %d: Scan under another context tenant err = %v, want field.ErrTenantMismatch", i, err)
			}
		}
	})

	t.Run("rotation", func(t *testing.T) {
		v1 := seal(colA, "rot", "v1")
		if _, err := e.keys.Rotate(ctx, "rot"); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		v2 := seal(colA, "rot", "v2")
		got, errs := scanRows(ctx, colA, []string{"rot", "rot", "rot", "rot"}, [][]byte{v1, v1, v2, v1})
		for i, want := range []string{"v1", "v1", "v2", "v1"} {
			if errs[i] != nil || got[i] != want {
				t.Errorf("row %d: Scan = %q, %v, want %q", i, got[i], errs[i], want)
			}
		}
	})

	t.Run("shred between rows", func(t *testing.T) {
		v := seal(colA, "shred", "v")
		var dst string
		sc := colA.Scan(ctx, "shred", &dst)
		for i := range 2 {
			if err := sc.Scan(v); err != nil || dst != "v" {
				t.Fatalf("row %d: Scan = %q, %v", i, dst, err)
			}
		}
		if err := e.keys.Shred(ctx, "shred"); err != nil {
			t.Fatalf("Shred: %v", err)
		}
		dst = ""
		if err := sc.Scan(v); !errors.Is(err, keystore.ErrKeyDestroyed) || dst != "" {
			t.Errorf("Scan after Shred = %q, %v, want keystore.ErrKeyDestroyed", dst, err)
		}
		bs := sc.(interface{ ScanBytes([]byte) error })
		if err := bs.ScanBytes(v); !errors.Is(err, keystore.ErrKeyDestroyed) {
			t.Errorf("ScanBytes after Shred err = %v, want keystore.ErrKeyDestroyed", err)
		}
	})

	t.Run("bytes and numbers", func(t *testing.T) {
		bin := sqltypes.NewColumn[[]byte](e.enc, "reuse", "bin")
		num := sqltypes.NewColumn[int64](e.enc, "reuse", "num")
		var gotB []byte
		var gotN int64
		sb, sn := bin.Scan(ctx, "acme", &gotB), num.Scan(ctx, "acme", &gotN)
		var kept [][]byte
		for i := range int64(4) {
			vb, err := bin.Seal(ctx, "acme", []byte{byte(i), 1, 2})
			if err != nil {
				t.Fatal(err)
			}
			vn, err := num.Seal(ctx, "acme", 1000+i)
			if err != nil {
				t.Fatal(err)
			}
			if err := sb.Scan(vb); err != nil {
				t.Fatalf("row %d: Scan([]byte column): %v", i, err)
			}
			if err := sn.Scan(vn); err != nil || gotN != 1000+i {
				t.Fatalf("row %d: Scan(int64 column) = %d, %v", i, gotN, err)
			}
			kept = append(kept, gotB)
		}
		// Each row's []byte is its own: a held buffer must never be
		// handed out.
		for i, b := range kept {
			if len(b) != 3 || b[0] != byte(i) {
				t.Errorf("row %d's []byte = %v after later rows", i, b)
			}
		}
	})
}
