package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
)

// Environment variables that stand in for flags.
const (
	envDSN = "COLCRYPT_DSN"
	envKMS = "COLCRYPT_KMS"
)

// cli is one invocation: its streams, environment and global flags.
type cli struct {
	stdin            io.Reader
	stdout, stderr   io.Writer
	getenv           func(string) string
	stdinIsTerminal  bool
	stderrIsTerminal bool
	stderrWidth      int // columns of the terminal on standard error, 0 if none

	dsn, kmsURL     string
	kmsList         []string // every --kms, in order: kmsURL then ringKMS
	ringKMS         []string // the keyring's further master keys (--kms after the first)
	oldKMS          []string
	output          string
	keyTable        string
	checkpointTable string
	noProgress      bool
	actor           string               // --actor: who the audit trail records
	logLevel        string               // --log-level: the key store's records on stderr
	observer        func(keystore.Event) // the key store's event observer, if a command watches

	stopSig atomic.Pointer[os.Signal]    // the signal that asked to stop
	view    atomic.Pointer[progressView] // the progress shown, for the signal handler
}

// run executes args and returns the exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	// cobra prints --version from a template; JSON is written here. Only
	// "--version" with -o json and nothing else: a command's own flags
	// are not silently skipped.
	if len(args) <= 3 && slices.Contains(args, "--version") && wantsJSON(args) {
		c.output = "json"
		c.emit(map[string]string{"version": version()}, nil)
		return exitOK
	}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// cobra's own errors: unknown commands and flags, bad arguments.
		ee = &exitError{code: exitUsage, err: err}
	}
	if c.output == "json" || wantsJSON(args) {
		c.emitError(ee)
		return ee.code
	}
	fmt.Fprintf(c.stderr, "colcrypt: %s\n", c.message(ee))
	if ee.code == exitInterrupted {
		return ee.code
	}
	switch ee.code {
	case exitUsage:
		fmt.Fprintln(c.stderr, "Run 'colcrypt help' or 'colcrypt <command> --help' for usage.")
	}
	return ee.code
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "colcrypt",
		Short: "Manage colcrypt keys and migrate database columns to and from encryption",
		Long: `colcrypt manages the per-tenant data keys of colcrypt's envelope encryption and
migrates existing columns online: encrypt a plaintext column, re-encrypt after a
key rotation, decrypt back, and verify, in batches, resumable after any crash,
while the application keeps serving.

The database is given by --dsn or ` + envDSN + `:
  postgres://user@host:5432/db?sslmode=disable   (or any pgx connection string)
  mysql://user:password@tcp(host:3306)/db        (MySQL 8.0+, MariaDB 10.6+: a
                                                 go-sql-driver DSN after mysql://)
  sqlite:///absolute/path/app.db, sqlite://relative/app.db, file:app.db?...

The master key by --kms or ` + envKMS + `:
  awskms://alias/NAME?region=R                  (or a key id, or awskms:///arn:…)
  gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
  local:///absolute/path/master.keys?id=k1      (development and tests only;
                                                 colcrypt keys new-local-key makes one)
A keyring is --kms given several times (or several URLs in ` + envKMS + `,
separated by blanks): each new data key is wrapped under every one of them,
and a key is unwrapped by the first, in the order given, that answers; see
docs/KEYRINGS.md and colcrypt keys add-kek.
Keys are unwrapped only with the master keys given here (--kms, and older ones
by --old-kms during a master key rotation); the key table names a key, it never
chooses which KMS is called or how it is reached.

Exit codes: 0 success; 1 failure; 2 usage error; 3 problems found (verify
failed, a migration left rows it could not migrate, or a doctor check failed);
130 interrupted (the checkpoint is saved: run the same command again to resume).

Check a deployment end to end with colcrypt doctor.`,
		Example: `  export COLCRYPT_DSN=postgres://app@db:5432/app
  export COLCRYPT_KMS=gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii
  colcrypt keys init
  colcrypt migrate encrypt --table users --column email --to-column email_enc --tenant-column tenant_id
  colcrypt migrate verify --table users --column email_enc --tenant-column tenant_id`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if c.dsn == "" {
				c.dsn = c.getenv(envDSN)
			}
			if len(c.kmsList) == 0 {
				// A URL holds no blank (RFC 3986): blanks separate
				// the keyring's master keys.
				c.kmsList = strings.Fields(c.getenv(envKMS))
			}
			if len(c.kmsList) > 0 {
				c.kmsURL, c.ringKMS = c.kmsList[0], c.kmsList[1:]
			}
			switch c.output {
			case "text", "json":
			default:
				return usageErr("--output must be text or json, not %q", c.output)
			}
			if _, ok := logLevels[c.logLevel]; !ok && c.logLevel != "off" {
				return usageErr("--log-level must be off, debug, info, warn or error, not %q", c.logLevel)
			}
			cmd.SetContext(keystore.WithActor(cmd.Context(), c.actorName()))
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.dsn, "dsn", "", "database URL (env "+envDSN+")")
	pf.StringVarP(&c.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&c.keyTable, "key-table", sqldialect.DefaultKeyTable, "name of the key table")
	pf.StringVar(&c.checkpointTable, "checkpoint-table", "colcrypt_migrations", "name of the migration checkpoint table")
	pf.StringVar(&c.logLevel, "log-level", "off", "key store log records on stderr: off, debug, info, warn or error")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr("%s", withFlagSuggestion(cmd, err))
	})
	root.Version = version()
	root.SetVersionTemplate("colcrypt {{.Version}}\n")
	root.AddCommand(c.keysCmd(), c.migrateCmd(), c.doctorCmd())
	return root
}

// kmsFlags registers --kms and --old-kms on the commands that wrap or
// unwrap keys, and only on those: a flag that shows on a command which
// ignores it reads as if it mattered there.
func (c *cli) kmsFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&c.kmsList, "kms", nil, "master key URL (env "+envKMS+"): awskms://…, gcpkms://…, local:///path?id=k1; repeat for a keyring, in unwrap order")
	f.StringArrayVar(&c.oldKMS, "old-kms", nil, "older master key URL, accepted for unwrapping keys still under it (repeatable)")
	f.StringVar(&c.actor, "actor", "", "who the key audit trail records as doing this (default: the OS user)")
}

// progressFlag registers --no-progress on the commands that show progress.
func (c *cli) progressFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&c.noProgress, "no-progress", false, "do not show progress")
}

// group is a command that only holds subcommands: run bare, it is a usage
// error, not a silent success.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, s := range cmd.Commands() {
				names = append(names, s.Name())
			}
			if len(args) > 0 {
				return usageErr("%s", unknownSubcommand(cmd, args[0]))
			}
			return usageErr("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(names, ", "))
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// action adapts a command body: its errors default to exit code 1.
func action(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return withCode(exitFailure, f(cmd, args))
	}
}

// emit prints v as JSON, or calls text, depending on --output.
func (c *cli) emit(v any, text func(w io.Writer)) error {
	if c.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		// "->" in a job id stays "->": this is not HTML.
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(c.stdout)
	return nil
}
