package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/migrate"
)

// The keyring commands: upgrade the key table's schema, and add or remove
// a master key's copies of every data key. See docs/KEYRINGS.md.

func (c *cli) keysUpgradeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade the key table's schema to this release's version (online)",
		Long: `Bring the schema of the key table (--key-table) up to the version this release
uses, and report the version found and the version now. Version 2 adds the
table of wrapped copies that keyrings use (<key table>_wraps) and the table
that records the schema version; version 3 the table of tenants' own master
keys (<key table>_tenant_keks, colcrypt keys set-kek); version 4 the table of
tenants whose blind indexes may still be under a data key (<key
table>_legacy_indexes, filled by the upgrade: colcrypt keys legacy-indexes).

The upgrade is online: it only creates tables (and fills the new legacy index
table from the key table), so it neither rewrites nor locks the key table, and applications of the previous release keep reading and
writing keys while it runs. Running it again, or from several places at once,
is harmless. Applications also upgrade on start unless they opt out
(keystore.WithoutUpgrade), which is where this command is needed: run it with
a database user that may create tables.

It needs no master key.`,
		Example: `  colcrypt keys upgrade
  colcrypt keys upgrade --key-table app_keys -o json`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			k, err := c.openDB(ctx)
			if err != nil {
				return err
			}
			defer k.Close()
			opts := []keystore.Option{keystore.WithTable(c.keyTable), keystore.WithDialect(k.d.String())}
			// CurrentSchema checks the table name before the catalog
			// is asked about it.
			if _, err := keystore.CurrentSchema(ctx, k.db, opts...); err != nil {
				return err
			}
			if cols, err := schemaOf(k.d).names(ctx, k.db, schemaOf(k.d).Columns, c.keyTable); err != nil {
				return fmt.Errorf("read the catalog: %w", err)
			} else if len(cols) == 0 {
				return fmt.Errorf("no key table %s to upgrade: create it with colcrypt keys init", c.keyTable)
			}
			from, err := keystore.Upgrade(ctx, k.db, opts...)
			if err != nil {
				return err
			}
			to, err := keystore.CurrentSchema(ctx, k.db, opts...)
			if err != nil {
				return err
			}
			out := struct {
				KeyTable string `json:"key_table"`
				Dialect  string `json:"dialect"`
				From     int    `json:"from"`
				To       int    `json:"to"`
				Upgraded bool   `json:"upgraded"`
			}{c.keyTable, k.d.String(), from, to, from < to}
			return c.emit(out, func(w io.Writer) {
				if out.Upgraded {
					fmt.Fprintf(w, "key table %s upgraded from schema version %d to %d (%s)\n", c.keyTable, from, to, k.d.String())
				} else {
					fmt.Fprintf(w, "key table %s is at schema version %d: nothing to do (%s)\n", c.keyTable, to, k.d.String())
				}
			})
		}),
	}
}

// keyringJSON is the result of add-kek and remove-kek.
type keyringJSON struct {
	MasterKey string `json:"master_key"`
	Scanned   int    `json:"scanned"`
	Added     int    `json:"added,omitempty"`
	Removed   int    `json:"removed,omitempty"`
	Promoted  int    `json:"promoted,omitempty"`
	Skipped   int    `json:"skipped"`
	Conflicts int    `json:"conflicts"`
	Orphans   int    `json:"orphans"`
	// LastCopies are the keys remove-kek left alone: their only copy
	// that opens is under the master key being removed.
	LastCopies []keyRef `json:"last_copies,omitempty"`
	Done       bool     `json:"done"`
}

func ringJSON(name string, r keystore.KeyringResult, err error) keyringJSON {
	out := keyringJSON{MasterKey: name, Scanned: r.Scanned, Added: r.Added, Removed: r.Removed, Promoted: r.Promoted,
		Skipped: r.Skipped, Conflicts: r.Conflicts, Orphans: r.Orphans, Done: err == nil}
	var lc *keystore.LastCopyError
	if errors.As(err, &lc) {
		for _, k := range lc.Keys {
			out.LastCopies = append(out.LastCopies, keyRef{k.Tenant, k.Version})
		}
	}
	return out
}

// keyRef names one version of a tenant's key in JSON.
type keyRef struct {
	Tenant  string `json:"tenant"`
	Version uint32 `json:"version"`
}

func (c *cli) keysAddKEKCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add-kek <master key URL>",
		Short: "Give every data key a wrapped copy under another master key (add it to the keyring)",
		Long: `Add a master key to the keyring: every live data key (every tenant, every
active and retired version) gets a wrapped copy under the master key named by
the argument, kept next to its other copies. The data keys do not change, so no
data row is read or written.

Each key is unwrapped with the master keys given by --kms (the keyring, tried
in order) and --old-kms, wrapped under the new master key, and unwrapped back to
check the copy before it is written. Keys that already have a copy under it are
skipped, so running it again after a failure or Ctrl-C finishes the job. It also
fills the copies a key missed when it was created while a keyring master key was
down, and deletes copies left behind by an older release's shred.

Order: deploy the application with the new master key in its keyring (so new
keys get their copy: keystore.WithKeyring, or another --kms here), then run
add-kek.`,
		Example: `  colcrypt keys add-kek gcpkms://projects/p/locations/europe-west4/keyRings/app/cryptoKeys/pii \
    --kms gcpkms://projects/p/locations/europe-west1/keyRings/app/cryptoKeys/pii
  colcrypt keys add-kek awskms://alias/pii?region=eu-west-1 -o json`,
		Args: exactArg("add-kek", "the URL of the master key to add"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := kms.Name(args[0])
			if err != nil {
				return usageErr("add-kek: %v", err)
			}
			prog := &ringProgress{name: name, add: true}
			k, err := c.openObserved(ctx, prog.observe)
			if err != nil {
				return err
			}
			defer k.Close()
			target := k.keeper(name)
			if target == nil {
				c.warnKeyFile(args[0])
				if target, err = kms.Open(ctx, args[0]); err != nil {
					return kmsOpenHint(args[0], err)
				}
				defer target.Close()
			}
			if err := prog.start(ctx, c, k.store, "add-kek "+name); err != nil {
				return err
			}
			res, err := k.store.AddMasterKey(ctx, target)
			prog.view.finish(err == nil)
			out := ringJSON(name, res, err)
			if eerr := c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "added %d copies under %s (%d keys scanned, %d had one, %d changed concurrently, %d orphaned copies deleted)\n",
					res.Added, name, res.Scanned, res.Skipped, res.Conflicts, res.Orphans)
				if err == nil && k.keeper(name) == nil {
					fmt.Fprintf(w, "new keys get a copy under %s only where it is in the keyring: give it to the application's keystore.WithKeyring (or as another --kms)\n", name)
				}
			}); eerr != nil && err == nil {
				err = eerr
			}
			return err
		}),
	}
	c.kmsFlags(cmd)
	c.progressFlag(cmd)
	return cmd
}

func (c *cli) keysRemoveKEKCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove-kek <master key URL>",
		Short: "Delete every data key's copy under a master key (remove it from the keyring)",
		Long: `Remove a master key from the keyring: every data key's wrapped copy under the
master key named by the argument is deleted, once another copy of that key,
under a master key given by --kms or --old-kms, has been unwrapped. No data row
is read or written.

It never deletes the last copy that opens: a key whose other copies are missing,
or do not unwrap, is left alone, listed, and the command fails once every other
key is done. Give those keys a copy under another master key first (colcrypt
keys add-kek), then run remove-kek again; keys already done are skipped, so it
is also how to resume after a failure or Ctrl-C.

The master key being removed is not called, so it may already be unreachable
(a region or provider you are leaving). It must not be one of the --kms: those
are the keyring to keep.

Order: deploy the application without the master key in its keyring (so no new
key gets a copy under it), run remove-kek, then disable the key in its KMS.`,
		Example: `  colcrypt keys remove-kek gcpkms://projects/p/locations/europe-west4/keyRings/app/cryptoKeys/pii \
    --kms gcpkms://projects/p/locations/europe-west1/keyRings/app/cryptoKeys/pii
  colcrypt keys remove-kek awskms://alias/pii?region=eu-west-1 --kms gcpkms://… -o json`,
		Args: exactArg("remove-kek", "the URL of the master key to remove"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, err := kms.Name(args[0])
			if err != nil {
				return usageErr("remove-kek: %v", err)
			}
			for _, u := range c.kmsList {
				if n, err := kms.Name(u); err == nil && n == name {
					return usageErr("remove-kek: %s is also given by --kms: --kms names the keyring to keep; give it without the master key to remove", name)
				}
			}
			if c.kmsURL == "" {
				return usageErr("no master key: pass --kms (the keyring to keep) or set %s", envKMS)
			}
			prog := &ringProgress{name: name}
			k, err := c.openObserved(ctx, prog.observe)
			if err != nil {
				return err
			}
			defer k.Close()
			// Only the name is used: no call goes to the key removed.
			target := kms.NewKeeper(name, noKMS{})
			if err := prog.start(ctx, c, k.store, "remove-kek "+name); err != nil {
				return err
			}
			res, err := k.store.RemoveMasterKey(ctx, target)
			prog.view.finish(err == nil)
			out := ringJSON(name, res, err)
			var lc *keystore.LastCopyError
			if errors.As(err, &lc) {
				err = fmt.Errorf("%w; these keys keep their copy under it: give them a copy under another master key (colcrypt keys add-kek <URL>), then run remove-kek again", err)
			} else if errors.Is(err, keystore.ErrUnknownMasterKey) {
				err = fmt.Errorf("%w (give the master key it is under with --kms or --old-kms)", err)
			}
			if eerr := c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "removed %d copies under %s (%d moved into their key row; %d keys scanned, %d had none, %d changed concurrently, %d orphaned copies deleted)\n",
					res.Removed, name, res.Promoted, res.Scanned, res.Skipped, res.Conflicts, res.Orphans)
				if len(out.LastCopies) > 0 {
					fmt.Fprintf(w, "%d keys left alone: their only copy that opens is under %s\n", len(out.LastCopies), name)
				}
			}); eerr != nil && err == nil {
				err = eerr
			}
			return err
		}),
	}
	c.kmsFlags(cmd)
	c.progressFlag(cmd)
	return cmd
}

// validTenantName tells a tenant's key from the audit trail's chain key,
// whose KMS context names no tenant, or one with a NUL (which tenant ids
// cannot hold).
func validTenantName(t string) bool {
	return t != "" && !strings.ContainsRune(t, 0)
}

// exactArg accepts one positional argument, and names it when missing.
func exactArg(command, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageErr("%s needs %s", command, what)
		case len(args) > 1:
			return usageErr("%s takes one master key URL, not %d arguments", command, len(args))
		}
		return nil
	}
}

// openObserved is open with the master keys, with observe as the key
// store's event observer.
func (c *cli) openObserved(ctx context.Context, observe func(keystore.Event)) (*conn, error) {
	c.observer = observe
	defer func() { c.observer = nil }()
	return c.open(ctx, withKMS)
}

// keeper returns the --kms keeper named name, or nil.
func (k *conn) keeper(name string) *kms.Keeper {
	for _, kp := range append([]*kms.Keeper{k.kek}, k.ring...) {
		if kp != nil && kp.URI() == name {
			return kp
		}
	}
	return nil
}

// ringProgress shows how far add-kek or remove-kek got. The key store
// reports no progress of its own, so it is read from the KMS calls the
// run makes, which come in (tenant, version) order: add-kek wraps each
// key it works on under the added master key once, remove-kek unwraps
// each key it works on from another copy. The total is the count of keys
// with work to do, from the key table before the run. Keys done earlier
// (a resumed run) make no call and are not in the total.
type ringProgress struct {
	name string // the master key added or removed
	add  bool
	view *progressView

	mu    sync.Mutex
	begun time.Time
	total int64
	done  int64
	last  keystore.KeyRef
}

// start counts the keys with work to do and shows the bar.
func (p *ringProgress) start(ctx context.Context, c *cli, store *keystore.Store, desc string) error {
	infos, err := store.List(ctx, "")
	if err != nil {
		return err
	}
	var total int64
	for _, ki := range infos {
		if len(ki.Copies) == 0 {
			continue // destroyed
		}
		has := false
		for _, cp := range ki.Copies {
			if n, err := kms.Name(cp); cp == p.name || (err == nil && n == p.name) {
				has = true
			}
		}
		if has != p.add {
			total++
		}
	}
	view := c.progress(desc)
	view.unit = "keys"
	p.mu.Lock()
	p.view, p.begun, p.total = view, time.Now(), total
	p.mu.Unlock()
	return nil
}

// observe is the key store's observer: it must be quick and must not
// call the store.
func (p *ringProgress) observe(e keystore.Event) {
	if !validTenantName(e.Tenant) || e.Attempt != 1 {
		return // the audit trail's chain key, or a retry
	}
	if p.add && (e.Kind != "wrap" || e.KEKURI != p.name) || !p.add && e.Kind != "unwrap" {
		return
	}
	p.mu.Lock()
	ref := keystore.KeyRef{Tenant: e.Tenant, Version: e.Version}
	if p.view == nil || ref == p.last {
		p.mu.Unlock()
		return
	}
	p.last = ref
	p.done++
	pr := migrate.Progress{Done: p.done, ThisRun: p.done, Total: p.total, Elapsed: time.Since(p.begun)}
	p.mu.Unlock()
	p.view.update(pr)
}

func (c *cli) keysSetKEKCmd() *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "set-kek --tenant <tenant> <master key URL>",
		Short: "Give a tenant its own master key (bring your own key), rewrapping its data keys under it alone",
		Long: `Make the master key named by the argument the tenant's own: the assignment is
stored with the key table, every live data key of the tenant (active and retired
versions) is rewrapped under that master key alone and its keyring copies are
deleted, and the tenant's new versions are wrapped under it. So the customer
disabling the key in its KMS cuts every access to its data, backups included.
No data row is read or written.

Every process that opens the tenant's data must have the master key configured
(keystore.WithMasterKeys, or --old-kms here): the stored assignment names a
key, it never adds one. Running it again skips keys already under it, so it
also resumes after a failure or Ctrl-C. See docs/KEYRINGS.md.`,
		Example: `  colcrypt keys set-kek --tenant acme awskms:///arn:aws:kms:eu-west-1:111122223333:key/…
  colcrypt keys set-kek --tenant acme gcpkms://projects/acme-owned/locations/europe-west1/keyRings/colcrypt/cryptoKeys/acme -o json`,
		Args: exactArg("set-kek", "the URL of the tenant's master key"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if tenant == "" {
				return usageErr("set-kek needs --tenant")
			}
			name, err := kms.Name(args[0])
			if err != nil {
				return usageErr("set-kek: %v", err)
			}
			// The tenant's key must be a configured one: add it to the
			// keys accepted for unwrapping unless a flag gives it.
			given := false
			for _, u := range append(slices.Clone(c.kmsList), c.oldKMS...) {
				if n, err := kms.Name(u); err == nil && n == name {
					given = true
				}
			}
			if !given {
				c.oldKMS = append(c.oldKMS, args[0])
			}
			k, err := c.open(ctx, withKMS)
			if err != nil {
				return err
			}
			defer k.Close()
			target := k.configured(name)
			if target == nil { // cannot happen: it was just configured
				return fmt.Errorf("set-kek: master key %s is not configured", name)
			}
			res, err := k.store.SetTenantMasterKey(ctx, tenant, target)
			out := struct {
				Tenant    string `json:"tenant"`
				MasterKey string `json:"master_key"`
				Scanned   int    `json:"scanned"`
				Rewrapped int    `json:"rewrapped"`
				Skipped   int    `json:"skipped"`
				Conflicts int    `json:"conflicts"`
				Done      bool   `json:"done"`
			}{tenant, name, res.Scanned, res.Rewrapped, res.Skipped, res.Conflicts, err == nil}
			if eerr := c.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "tenant %s: %d keys rewrapped under %s alone (%d scanned, %d already were, %d changed concurrently)\n",
					tenant, res.Rewrapped, name, res.Scanned, res.Skipped, res.Conflicts)
				if err == nil {
					fmt.Fprintf(w, "every process that opens tenant %s's data must configure %s (keystore.WithMasterKeys)\n", tenant, name)
				}
			}); eerr != nil && err == nil {
				err = eerr
			}
			return err
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (required)")
	c.kmsFlags(cmd)
	return cmd
}

// configured returns the configured keeper named name (--kms or
// --old-kms), or nil.
func (k *conn) configured(name string) *kms.Keeper {
	if kp := k.keeper(name); kp != nil {
		return kp
	}
	for _, kp := range k.older {
		if kp.URI() == name {
			return kp
		}
	}
	return nil
}
