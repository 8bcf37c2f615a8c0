package testhelpers

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"testing"
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// AssertNoPlaintext reads every raw value of table.column with plain SQL
// and fails t if any holds one of plaintexts — as raw bytes, or in hex or
// base64 form, in case a column was written in an encoding rather than
// encrypted. Empty plaintexts are ignored (they are in every value).
func AssertNoPlaintext(t testing.TB, db *sql.DB, table, column string, plaintexts ...string) {
	t.Helper()
	if err := noPlaintext(context.Background(), db, table, column, plaintexts); err != nil {
		t.Fatal(err)
	}
}

func noPlaintext(ctx context.Context, db *sql.DB, table, column string, plaintexts []string) error {
	if !identifier.MatchString(table) || !identifier.MatchString(column) {
		return fmt.Errorf("AssertNoPlaintext: %q.%q is not a plain identifier", table, column)
	}
	var needles [][]byte
	for _, p := range plaintexts {
		if p == "" {
			continue
		}
		needles = append(needles, []byte(p),
			[]byte(hex.EncodeToString([]byte(p))),
			[]byte(base64.StdEncoding.EncodeToString([]byte(p))))
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s", column, table))
	if err != nil {
		return fmt.Errorf("AssertNoPlaintext: read %s.%s: %w", table, column, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return fmt.Errorf("AssertNoPlaintext: scan %s.%s: %w", table, column, err)
		}
		n++
		for _, needle := range needles {
			if bytes.Contains(raw, needle) {
				return fmt.Errorf("AssertNoPlaintext: %s.%s row %d holds plaintext %q", table, column, n, needle)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("AssertNoPlaintext: %s.%s has no rows; nothing was checked", table, column)
	}
	return nil
}
