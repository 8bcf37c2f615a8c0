package testhelpers

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

func TestNoPlaintext(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	if err := noPlaintext(ctx, db, "t", "v", []string{"x"}); err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Errorf("noPlaintext(empty table) = %v, want a no-rows error", err)
	}
	for _, v := range []any{[]byte{0xc0, 1, 2, 3}, nil} {
		if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := noPlaintext(ctx, db, "t", "v", []string{"ann@example.com", ""}); err != nil {
		t.Errorf("noPlaintext(ciphertext only) = %v, want nil", err)
	}
	for _, leaked := range []string{"ann@example.com", "616e6e406578616d706c652e636f6d", "YW5uQGV4YW1wbGUuY29t"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, []byte("x"+leaked+"y")); err != nil {
			t.Fatal(err)
		}
		if err := noPlaintext(ctx, db, "t", "v", []string{"ann@example.com"}); err == nil {
			t.Errorf("noPlaintext(with %q) = nil, want an error", leaked)
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM t WHERE v = ?`, []byte("x"+leaked+"y")); err != nil {
			t.Fatal(err)
		}
	}
	if err := noPlaintext(ctx, db, "t; DROP TABLE t", "v", nil); err == nil {
		t.Error("noPlaintext(bad identifier) = nil, want an error")
	}
}
