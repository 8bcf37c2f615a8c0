package main

import (
	"errors"
	"fmt"
	"io"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/spf13/cobra"
)

// auditJSON is what "keys audit -o json" prints.
type auditJSON struct {
	Events []keystore.AuditEvent `json:"events"`
	// Verified is set with --verify: the whole chain checked out.
	Verified *bool `json:"verified,omitempty"`
	// Checked is how many events --verify checked.
	Checked int `json:"checked,omitempty"`
	// BadEvent is the seq of the first event that does not check out.
	BadEvent *int64 `json:"bad_event,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

func (c *cli) keysAuditCmd() *cobra.Command {
	var tenant string
	var verify bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the audit trail of key operations, and verify its HMAC chain",
		Long: `Print the audit trail of the key table (--key-table + "_events"): every
first key, rotation, rewrap, destroyed version and shred, with its time,
tenant, version, master key and actor (--actor, or the OS user, of the command
that did it).

With --verify, also check the trail's HMAC chain, which needs the master key
(--kms, and --old-kms for every older master key the trail has used): an
edited, deleted or reordered event is reported, naming the first bad event,
and the command exits with 3. --tenant narrows what is printed, never what is
verified: the chain is always checked whole.`,
		Example: `  colcrypt keys audit
  colcrypt keys audit --tenant acme --output json
  colcrypt keys audit --verify`,
		Args: cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			need := withoutKMS
			if verify {
				need = withKMS
			}
			k, err := c.open(ctx, need)
			if err != nil {
				return err
			}
			defer k.Close()
			evs, err := k.store.AuditEvents(ctx, tenant)
			if err != nil {
				return err
			}
			out := auditJSON{Events: evs}
			var broken *keystore.Error
			if verify {
				n, err := k.store.VerifyAudit(ctx)
				if err != nil && !errors.As(err, &broken) {
					return err
				}
				ok := broken == nil
				out.Verified, out.Checked = &ok, n
				if broken != nil {
					out.BadEvent, out.Problem = &broken.Seq, broken.Reason
				}
			}
			if err := c.emit(out, func(w io.Writer) { printAudit(w, out) }); err != nil {
				return err
			}
			if broken != nil {
				return &exitError{code: exitProblems, err: broken}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "print only this tenant's events")
	cmd.Flags().BoolVar(&verify, "verify", false, "verify the HMAC chain (needs --kms); exit 3 if it is broken")
	c.kmsFlags(cmd)
	return cmd
}

// printAudit writes the text form of "keys audit".
func printAudit(w io.Writer, out auditJSON) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tOPERATION\tTENANT\tVERSION\tACTOR\tMASTER KEY")
	for _, e := range out.Events {
		v := "-"
		if e.Version != 0 {
			v = fmt.Sprint(e.Version)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.UTC().Format(time.RFC3339Nano), e.Operation,
			orDash(e.Tenant), v, orDash(e.Actor), orDash(e.KEKURI))
	}
	tw.Flush()
	if len(out.Events) == 0 {
		fmt.Fprintln(w, "(no events)")
	}
	switch {
	case out.Verified == nil:
	case *out.Verified:
		fmt.Fprintf(w, "chain verified: %d events\n", out.Checked)
	default:
		fmt.Fprintf(w, "CHAIN BROKEN at event %d: %s\n", *out.BadEvent, out.Problem)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// actorName is who the audit trail records: --actor, else the OS user.
func (c *cli) actorName() string {
	if c.actor != "" {
		return c.actor
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := c.getenv("USER"); n != "" {
		return n
	}
	return ""
}
