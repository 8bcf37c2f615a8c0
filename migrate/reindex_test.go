package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/field"
)

// TestReindex moves a legacy blind index to the index key in place, then
// rotates the index key into a second column, checking at every step
// that a lookup finds the row and how many index values it sends.
func TestReindex(t *testing.T) {
	for _, dd := range dialects {
		t.Run(dd.name, func(t *testing.T) {
			t.Parallel()
			const n = 300
			ctx := context.Background()
			e := newEnv(t, dd.d)
			e.createUsers(n)
			e.exec(`ALTER TABLE users ADD COLUMN email_bidx2 ` + e.typ("bytea"))
			bidx := func(column string, k field.IndexKeying) *field.BlindIndex {
				b, err := field.NewBlindIndex(column, 0, "lower")
				if err != nil {
					t.Fatal(err)
				}
				b.Keying = k
				return b
			}
			// find returns the ids whose index column matches row 42's
			// email, and how many index values the lookup sent.
			find := func(b *field.BlindIndex) ([]int64, int) {
				t.Helper()
				s := field.Scope{Tenant: tenantOfID(42), Table: "users", Column: "email_enc"}
				cands, err := e.enc.BlindIndexCandidates(ctx, s, b, []byte("USER42@example.com"))
				if err != nil {
					t.Fatalf("BlindIndexCandidates = %v", err)
				}
				if len(cands) == 0 {
					return nil, 0
				}
				ph := make([]string, len(cands))
				args := make([]any, len(cands))
				for i, c := range cands {
					ph[i], args[i] = e.d.ph(i+1), c
				}
				rows, err := e.db.Query("SELECT id FROM users WHERE "+b.Column+" IN ("+strings.Join(ph, ", ")+") ORDER BY id", args...)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var ids []int64
				for rows.Next() {
					var id int64
					if err := rows.Scan(&id); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				return ids, len(cands)
			}
			want := func(step string, b *field.BlindIndex, values int) {
				t.Helper()
				if ids, got := find(b); len(ids) != 1 || ids[0] != 42 || got != values {
					t.Fatalf("%s: lookup of row 42 = ids %v with %d index values; want [42] with %d", step, ids, got, values)
				}
			}
			rotateAll := func(rotate func(context.Context, string) (uint32, error)) {
				for _, tn := range tenants {
					if _, err := rotate(ctx, tn); err != nil {
						t.Fatal(err)
					}
				}
			}

			// Rows written before index keys: legacy indexes, then a
			// data-key rotation.
			legacy := bidx("email_bidx", field.IndexLegacy)
			mustRun(t, e.m, Job{Kind: Encrypt, Table: "users", Column: "email", ToColumn: "email_enc", TenantColumn: "tenant", BlindIndex: legacy}, RunOptions{})
			rotateAll(e.store.Rotate)
			want("legacy", legacy, 2)
			// No index key yet (a lookup creates none): the legacy values only.
			want("migrating before reindex", bidx("email_bidx", field.IndexMigrating), 2)

			// Reindex in place under the index key.
			res := mustRun(t, e.m, Job{Kind: Reindex, Table: "users", Column: "email_enc", TenantColumn: "tenant",
				BlindIndex: bidx("email_bidx", field.IndexMigrating)}, RunOptions{})
			nonNull := n - n/97
			if res.Updated != int64(nonNull) {
				t.Fatalf("reindex updated %d rows, want %d", res.Updated, nonNull)
			}
			want("stable after reindex", bidx("email_bidx", field.IndexStable), 1)
			if ids, _ := find(legacy); len(ids) != 0 {
				t.Fatalf("legacy lookup after reindex = %v, want none: the column holds stable indexes", ids)
			}
			// A second run finds nothing to do.
			res = mustRun(t, e.m, Job{ID: "reindex again", Kind: Reindex, Table: "users", Column: "email_enc", TenantColumn: "tenant",
				BlindIndex: bidx("email_bidx", field.IndexStable)}, RunOptions{})
			if res.Updated != 0 || res.Skipped != int64(nonNull) {
				t.Fatalf("second reindex = %d updated, %d skipped; want 0, %d", res.Updated, res.Skipped, nonNull)
			}
			// The values themselves are untouched.
			e.checkEncrypted("email_enc", emailOf)

			// Rotate the index key: the old column keeps matching under
			// the version before the active one while a job fills the
			// new column under the new one.
			rotateAll(e.store.RotateIndexKey)
			rotating := bidx("email_bidx", field.IndexRotating)
			want("old column while rotating", rotating, 1)
			mustRun(t, e.m, Job{Kind: Reindex, Table: "users", Column: "email_enc", TenantColumn: "tenant",
				BlindIndex: bidx("email_bidx2", field.IndexStable)}, RunOptions{})
			want("new column after the index key rotation", bidx("email_bidx2", field.IndexStable), 1)
			want("old column still, until the switch", rotating, 1)
			if ids, _ := find(bidx("email_bidx", field.IndexStable)); len(ids) != 0 {
				t.Fatalf("old column under the new index key = %v, want none", ids)
			}
		})
	}
}
