package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/colcrypt/colcrypt/keystore"
)

// keysLegacyIndexesCmd shows and changes the legacy index table: the
// tenants whose blind indexes a release before index keys may have taken
// under their data key, which the default keying (indexkey:auto) goes on
// matching. See docs/ROTATING.md, "Moving a blind index to the index key".
func (c *cli) keysLegacyIndexesCmd() *cobra.Command {
	var mark, doClear, all bool
	var tenant string
	cmd := &cobra.Command{
		Use:   "legacy-indexes",
		Short: "Show, mark or clear the tenants whose blind indexes may still be under a data key",
		Long: `Releases before index keys took every blind index under the tenant's data key.
The upgrade to schema version 4 records every tenant then in the key table,
with its newest key version, in <key table>_legacy_indexes, and a blind index
with the default keying (indexkey:auto) goes on matching the values under those
versions, beside the index key's: rows written before the upgrade keep being
found until colcrypt migrate reindex moves them. A tenant created since has no
mark, and its lookups send one value.

Without flags, print how many tenants are marked. --mark records every tenant
as it stands now (raising a mark, never lowering it): run it when processes of
the older release kept writing after the upgrade, as in a rolling upgrade.
--clear removes the mark of --tenant, or with --all of every tenant: run it once
migrate reindex has moved every blind index column the older release wrote, so
that lookups send one value. Applications see a change within their key cache
TTL. It needs no master key.`,
		Example: `  colcrypt keys legacy-indexes
  colcrypt keys legacy-indexes --mark
  colcrypt keys legacy-indexes --clear --tenant acme
  colcrypt keys legacy-indexes --clear --all -o json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch {
			case mark && doClear:
				return usageErr("give --mark or --clear, not both")
			case doClear && (tenant == "") == !all:
				return usageErr("--clear needs --tenant <id>, or --all for every tenant")
			case !doClear && (tenant != "" || all):
				return usageErr("--tenant and --all go with --clear")
			}
			k, err := c.openDB(ctx)
			if err != nil {
				return err
			}
			defer k.Close()
			opts := []keystore.Option{keystore.WithTable(c.keyTable), keystore.WithDialect(k.d.String())}
			out := struct {
				KeyTable string `json:"key_table"`
				Action   string `json:"action"`
				Tenant   string `json:"tenant,omitempty"`
				Cleared  int64  `json:"cleared,omitempty"`
				Marked   int64  `json:"marked"`
			}{KeyTable: c.keyTable, Action: "count", Tenant: tenant}
			switch {
			case mark:
				out.Action = "mark"
				if out.Marked, err = keystore.MarkLegacyIndexes(ctx, k.db, opts...); err != nil {
					return err
				}
			case doClear:
				out.Action = "clear"
				if out.Cleared, err = keystore.ClearLegacyIndexes(ctx, k.db, tenant, opts...); err != nil {
					return err
				}
				fallthrough
			default:
				if out.Marked, err = keystore.CountLegacyIndexes(ctx, k.db, opts...); err != nil {
					return err
				}
			}
			return c.emit(out, func(w io.Writer) {
				if out.Action == "clear" {
					fmt.Fprintf(w, "cleared %d legacy index mark(s)\n", out.Cleared)
				}
				fmt.Fprintf(w, "%d tenant(s) of %s marked: their blind index lookups also try their data key versions up to the mark\n", out.Marked, c.keyTable)
			})
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&mark, "mark", false, "record every tenant of the key table with its newest key version")
	f.BoolVar(&doClear, "clear", false, "remove the mark of --tenant, or of every tenant with --all")
	f.StringVar(&tenant, "tenant", "", "the tenant whose mark --clear removes")
	f.BoolVar(&all, "all", false, "with --clear: every tenant's mark")
	return cmd
}
