package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/migrate"
)

func (c *cli) keysCmd() *cobra.Command {
	return group("keys", "Create and upgrade the key table, tenants and local master keys; list, rotate, rewrap, add and remove keyring master keys, destroy versions and shred tenant keys",
		c.keysInitCmd(), c.keysUpgradeCmd(), c.keysListCmd(), c.keysRotateCmd(), c.keysRewrapCmd(), c.keysAddKEKCmd(), c.keysRemoveKEKCmd(), c.keysSetKEKCmd(),
		c.keysLegacyIndexesCmd(), c.keysDestroyVersionCmd(), c.keysShredCmd(), c.keysAuditCmd(), c.keysNewLocalKeyCmd())
}

func (c *cli) keysInitCmd() *cobra.Command {
	var tenants []string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the key table and the migration checkpoint table, and tenants' first keys",
		Long: `Create the key table (--key-table) and the migration checkpoint table
(--checkpoint-table) if they do not exist. Running it again is harmless.
Without --tenant it needs no master key.

With --tenant, also create each tenant's first key unless it has one: the way
to make a tenant known to an application that creates keys only for known
tenants (keystore.TenantPolicy.KnownOnly). This needs the master key.`,
		Example: `  colcrypt keys init --dsn postgres://app@db:5432/app
  colcrypt keys init --dsn sqlite:///var/lib/app/app.db --key-table app_keys
  colcrypt keys init --tenant acme --tenant globex`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			need := withoutKMS
			if len(tenants) > 0 {
				need = withKMS
			}
			k, err := c.open(ctx, need)
			if err != nil {
				return err
			}
			defer k.Close()
			if err := keystore.CreateTable(ctx, k.db, keystore.WithDialect(k.d.String()), keystore.WithTable(c.keyTable)); err != nil {
				return err
			}
			if err := k.m.CreateCheckpointTable(ctx); err != nil {
				return err
			}
			for _, t := range tenants {
				if err := k.store.InitTenant(ctx, t); err != nil {
					return err
				}
			}
			out := map[string]any{"key_table": c.keyTable, "checkpoint_table": c.checkpointTable, "dialect": k.d.String()}
			if len(tenants) > 0 {
				out["tenants"] = tenants
			}
			return c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "key table %s and checkpoint table %s are ready (%s)\n", c.keyTable, c.checkpointTable, k.d.String())
				for _, t := range tenants {
					fmt.Fprintf(w, "tenant %s has a key\n", t)
				}
			})
		}),
	}
	cmd.Flags().StringSliceVar(&tenants, "tenant", nil, "create this tenant's first key unless it has one (repeat or comma-separate for several)")
	c.kmsFlags(cmd) // --tenant wraps a new key
	return cmd
}

// keyRow is one line of "keys list".
type keyRow struct {
	Tenant  string `json:"tenant"`
	Version uint32 `json:"version"`
	State   string `json:"state"`
	KEKURI  string `json:"kek_uri"`
	// Copies names the master key of each wrapped copy, the key row's
	// own (KEKURI) first; empty for a destroyed version.
	Copies    []string  `json:"copies"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Rows is how many values of the --table/--column use the version.
	Rows *int64 `json:"rows,omitempty"`
}

func (c *cli) keysListCmd() *cobra.Command {
	var tenant string
	var col columnFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenant keys and versions, and how many rows of a column use each",
		Long: `List the key table: every tenant's key versions with their state (active,
retired, destroyed) and the master keys that wrap them: one wrapped copy per
master key of the keyring (see colcrypt keys add-kek), the key row's own first.

With --table and --column, also count how many values of that column use each
key version (by reading the version from each value's header; nothing is
decrypted): after "migrate reencrypt", old versions should show 0 rows.
It needs no master key.`,
		Example: `  colcrypt keys list
  colcrypt keys list --tenant acme --output json
  colcrypt keys list --table users --column email_enc --tenant-column tenant_id`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if (col.table == "") != (col.column == "") {
				return usageErr("give --table and --column together")
			}
			k, err := c.open(ctx, withoutKMS)
			if err != nil {
				return err
			}
			defer k.Close()
			infos, err := k.store.List(ctx, tenant)
			if err != nil {
				return err
			}
			var usage *migrate.Report
			if col.table != "" {
				job := col.job()
				if job.TenantColumn == "" && job.Tenant == "" {
					job.Tenant = tenant
				}
				if job.TenantColumn == "" && job.Tenant == "" {
					return usageErr("counting rows per key version needs --tenant-column (or --tenant for a single-tenant table)")
				}
				if usage, err = k.m.Verify(ctx, job, migrate.RunOptions{CountOnly: true}); err != nil {
					return err
				}
			}
			rows := make([]keyRow, 0, len(infos))
			for _, ki := range infos {
				r := keyRow{Tenant: ki.Tenant, Version: ki.Version, State: string(ki.State), KEKURI: ki.KEKURI, Copies: ki.Copies,
					CreatedAt: ki.CreatedAt, UpdatedAt: ki.UpdatedAt}
				if r.Copies == nil {
					r.Copies = []string{} // JSON: [] for a destroyed version, not null
				}
				if usage != nil {
					n := usage.Tenants[ki.Tenant][ki.Version]
					r.Rows = &n
				}
				rows = append(rows, r)
			}
			return c.emit(rows, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprint(tw, "TENANT\tVERSION\tSTATE\tCREATED\tMASTER KEYS")
				if usage != nil {
					fmt.Fprint(tw, "\tROWS")
				}
				fmt.Fprintln(tw)
				for _, r := range rows {
					keys := strings.Join(r.Copies, ", ")
					if keys == "" {
						keys = "-"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s", r.Tenant, r.Version, r.State, r.CreatedAt.UTC().Format(time.RFC3339), keys)
					if r.Rows != nil {
						fmt.Fprintf(tw, "\t%d", *r.Rows)
					}
					fmt.Fprintln(tw)
				}
				tw.Flush()
				if len(rows) == 0 {
					fmt.Fprintln(w, "(no keys)")
				}
				if usage != nil && (usage.Plaintext > 0 || usage.Failed > 0) {
					fmt.Fprintf(w, "%s.%s also holds %d plaintext and %d malformed values\n", col.table, col.column, usage.Plaintext, usage.Failed)
				}
			})
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "list only this tenant's keys")
	col.register(cmd, false)
	return cmd
}

// rotated is one line of "keys rotate".
type rotated struct {
	Tenant  string `json:"tenant"`
	Version uint32 `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (c *cli) keysRotateCmd() *cobra.Command {
	var tenants []string
	var all, indexKey bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new key version active for one, several or all tenants",
		Long: `Create a new key version for each tenant and make it active; the previous
version is retired and still opens the values sealed under it. New values use
the new version at once in this process, and in the application within its key
cache TTL.

Rotation does not touch data rows: run "colcrypt migrate reencrypt" afterwards
to move existing values to the new version. Shredded tenants are skipped by
--all. Blind indexes are under each tenant's index key, which this leaves alone.

With --index-key it rotates the tenants' index keys instead, and leaves their
data keys alone: only as a step of an index key rotation (docs/ROTATING.md),
since every blind index taken under the old index key stops matching lookups
under the new one. --all then skips tenants without an index key.`,
		Example: `  colcrypt keys rotate --tenant acme
  colcrypt keys rotate --all
  colcrypt migrate reencrypt --table users --column email_enc --tenant-column tenant_id
  colcrypt keys rotate --all --index-key`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if all == (len(tenants) > 0) {
				return usageErr("give --tenant (one or more) or --all")
			}
			k, err := c.open(ctx, withKMS)
			if err != nil {
				return err
			}
			defer k.Close()
			if all {
				if tenants, err = k.store.Tenants(ctx); err != nil {
					return err
				}
			}
			var out []rotated
			failed := 0
			rotate := k.store.Rotate
			if indexKey {
				rotate = k.store.RotateIndexKey
			}
			for _, t := range tenants {
				v, err := rotate(ctx, t)
				switch {
				case err == nil:
					out = append(out, rotated{Tenant: t, Version: v})
				case all && errors.Is(err, keystore.ErrKeyDestroyed):
					// A shredded tenant stays shredded.
				case all && indexKey && errors.Is(err, keystore.ErrKeyNotFound):
					// No blind index was ever taken for the tenant.
				default:
					failed++
					out = append(out, rotated{Tenant: t, Error: err.Error()})
				}
			}
			if err := c.emit(out, func(w io.Writer) {
				for _, r := range out {
					if r.Error != "" {
						fmt.Fprintf(w, "%s: failed: %s\n", r.Tenant, r.Error)
					} else {
						fmt.Fprintf(w, "%s: version %d is active\n", r.Tenant, r.Version)
					}
				}
				if len(out) == 0 {
					fmt.Fprintln(w, "no tenant to rotate")
				}
			}); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("rotation failed for %d of %d tenants", failed, len(tenants))
			}
			return nil
		}),
	}
	c.kmsFlags(cmd)
	cmd.Flags().StringSliceVar(&tenants, "tenant", nil, "tenant to rotate (repeat or comma-separate for several)")
	cmd.Flags().BoolVar(&all, "all", false, "rotate every tenant in the key table")
	cmd.Flags().BoolVar(&indexKey, "index-key", false, "rotate the tenants' index keys (blind indexes) instead of their data keys")
	return cmd
}

func (c *cli) keysRewrapCmd() *cobra.Command {
	var to, from string
	var tenants []string
	var force bool
	var batch int
	cmd := &cobra.Command{
		Use:   "rewrap --to <master key URL>",
		Short: "Re-wrap every data key under a new master key (no data row is touched)",
		Long: `Master key rotation: unwrap each live data key with the master key it is
wrapped under and wrap it under --to. The data keys themselves do not change,
so no data row is read or written. Running it again after a failure finishes
the job; keys already under --to are skipped.

The old master key is given by --kms (or ` + envKMS + `) and --old-kms: keys are
unwrapped only with --to and those; a key the table names under any other
master key stops rewrap with "master key not configured".

Order: deploy the application with --to as its master key (keeping the old one
configured for unwrapping), run rewrap, then disable the old key in the KMS.`,
		Example: `  colcrypt keys rewrap --kms gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii-2023 \
    --to gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii-2024
  colcrypt keys rewrap --to local:///etc/colcrypt/master.keys?id=k2 --old-kms local:///etc/colcrypt/master.keys?id=k1`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to == "" {
				return usageErr("rewrap needs --to <new master key URL>")
			}
			// The store's own master key is --to; --kms (every one)
			// and --old-kms are the old keys rows may still be under.
			older := append(append([]string(nil), c.kmsList...), c.oldKMS...)
			k, err := c.openWith(ctx, to, nil, older)
			if err != nil {
				return err
			}
			defer k.Close()
			toKEK := k.kek
			opts := keystore.RewrapOptions{BatchSize: batch, From: from, Tenants: tenants, Force: force}
			res, err := k.store.Rewrap(ctx, toKEK, opts)
			if errors.Is(err, keystore.ErrUnknownMasterKey) {
				err = fmt.Errorf("%w (give the master key it is under with --kms or --old-kms)", err)
			}
			out := struct {
				To        string `json:"to"`
				Scanned   int    `json:"scanned"`
				Rewrapped int    `json:"rewrapped"`
				Skipped   int    `json:"skipped"`
				Conflicts int    `json:"conflicts"`
			}{toKEK.URI(), res.Scanned, res.Rewrapped, res.Skipped, res.Conflicts}
			if eerr := c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "rewrapped %d keys under %s (%d scanned, %d skipped, %d changed concurrently)\n",
					res.Rewrapped, toKEK.URI(), res.Scanned, res.Skipped, res.Conflicts)
			}); eerr != nil && err == nil {
				err = eerr
			}
			return err
		}),
	}
	c.kmsFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "URL of the new master key (required)")
	f.StringVar(&from, "from", "", "rewrap only keys wrapped under this master key URI")
	f.StringSliceVar(&tenants, "tenant", nil, "rewrap only these tenants")
	f.BoolVar(&force, "force", false, "rewrap keys already under --to too (after a KMS-side key version rotation)")
	f.IntVar(&batch, "batch-size", 100, "key rows per query")
	return cmd
}

func (c *cli) keysShredDesc() string {
	return `Destroy every version of one tenant's key: the wrapped keys are erased from the
key table, and the tenant's values can no longer be decrypted by anyone
(crypto-shredding). Other tenants are unaffected. This cannot be undone.

Database backups taken before the shred still hold the wrapped keys, which the
master key can unwrap; for erasure that survives backups give each tenant its
own master key and destroy that too.

It needs the master key (--kms): the shred is recorded in the key audit trail
("colcrypt keys audit"), whose MAC key the master key wraps.

Without --yes, colcrypt asks you to type the tenant id (on a terminal only).`
}

func (c *cli) keysShredCmd() *cobra.Command {
	var tenant string
	var yes bool
	cmd := &cobra.Command{
		Use:   "shred --tenant <tenant>",
		Short: "Destroy a tenant's keys, making its data unreadable (crypto-shredding)",
		Long:  c.keysShredDesc(),
		Example: `  colcrypt keys shred --tenant acme
  colcrypt keys shred --tenant acme --yes --output json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if tenant == "" {
				return usageErr("shred needs --tenant")
			}
			if !yes {
				if !c.stdinIsTerminal {
					return usageErr("refusing to shred tenant %q without --yes (standard input is not a terminal to confirm on)", tenant)
				}
				fmt.Fprintf(c.stderr, "This destroys every key of tenant %q: its data becomes unreadable, for good.\nType the tenant id to confirm: ", tenant)
				line, _ := bufio.NewReader(c.stdin).ReadString('\n')
				if strings.TrimRight(line, "\r\n") != tenant {
					return usageErr("confirmation did not match; nothing was shredded")
				}
			}
			k, err := c.open(ctx, withKMS) // the audit event's MAC needs the chain key
			if err != nil {
				return err
			}
			defer k.Close()
			if err := k.store.Shred(ctx, tenant); err != nil {
				return err
			}
			return c.emit(map[string]any{"tenant": tenant, "shredded": true}, func(w io.Writer) {
				fmt.Fprintf(w, "tenant %s shredded: its keys are destroyed\n", tenant)
			})
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant to shred (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	c.kmsFlags(cmd)
	return cmd
}

func (c *cli) keysDestroyVersionCmd() *cobra.Command {
	var tenant string
	var version uint32
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy-version --tenant <tenant> --version <n>",
		Short: "Destroy one retired key version of a tenant, making the values under it unreadable",
		Long: `Destroy one retired version of a tenant's key: its wrapped key is erased from
the key table and the values still sealed under it can no longer be decrypted.
The tenant's other versions are unaffected. This cannot be undone.

The version that seals new values (the highest live one) is refused: rotate
first. Run "colcrypt migrate reencrypt" and check with "colcrypt keys list
--table ... --column ..." that no row uses the version any more before
destroying it. Database backups taken before still hold the wrapped key.

It needs the master key (--kms): the destruction is recorded in the key audit
trail ("colcrypt keys audit"), whose MAC key the master key wraps.

Without --yes, colcrypt asks you to type the tenant id (on a terminal only).`,
		Example: `  colcrypt keys destroy-version --tenant acme --version 1
  colcrypt keys destroy-version --tenant acme --version 1 --yes --output json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if tenant == "" || version == 0 {
				return usageErr("destroy-version needs --tenant and --version")
			}
			if !yes {
				if !c.stdinIsTerminal {
					return usageErr("refusing to destroy version %d of tenant %q without --yes (standard input is not a terminal to confirm on)", version, tenant)
				}
				fmt.Fprintf(c.stderr, "This destroys version %d of tenant %q's key: values sealed under it become unreadable, for good.\nType the tenant id to confirm: ", version, tenant)
				line, _ := bufio.NewReader(c.stdin).ReadString('\n')
				if strings.TrimRight(line, "\r\n") != tenant {
					return usageErr("confirmation did not match; nothing was destroyed")
				}
			}
			k, err := c.open(ctx, withKMS) // the audit event's MAC needs the chain key
			if err != nil {
				return err
			}
			defer k.Close()
			if err := k.store.DestroyVersion(ctx, tenant, version); err != nil {
				return err
			}
			return c.emit(map[string]any{"tenant": tenant, "version": version, "destroyed": true}, func(w io.Writer) {
				fmt.Fprintf(w, "tenant %s version %d destroyed\n", tenant, version)
			})
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	cmd.Flags().Uint32Var(&version, "version", 0, "the retired key version to destroy (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	c.kmsFlags(cmd)
	return cmd
}
