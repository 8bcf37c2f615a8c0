// Command colcrypt manages colcrypt's keys and migrates database columns
// to and from encryption, online, while the application keeps serving.
//
//	colcrypt keys init|list|rotate|rewrap|shred|new-local-key
//	colcrypt migrate encrypt|reencrypt|decrypt|verify|status
//	colcrypt doctor
//
// The database is named by --dsn or COLCRYPT_DSN (postgres://…,
// sqlite:///path/file.db, file:…), the master key by --kms or COLCRYPT_KMS
// (awskms://…, gcpkms://…, local:///path/keyfile?id=k1) on the commands
// that wrap or unwrap keys. Run "colcrypt help" for the
// commands and "colcrypt help <command>" for their flags and examples.
//
// # Exit codes
//
//	0    success
//	1    failure: the database, the KMS or the job itself failed
//	2    usage: unknown command or flag, missing or contradicting flags,
//	     a refused confirmation
//	3    problems in the data: verify found values that fail to open (or
//	     plaintext where ciphertext was expected), or a migration finished
//	     but left rows it could not migrate, or a doctor check failed
//	130  interrupted (Ctrl-C, SIGTERM): the batch in flight was finished;
//	     run the same command again to resume. A second signal stops at
//	     once; the batch in flight is then rolled back, equally safe
//
// # Output
//
// With --output json the result (also for exit codes 3 and 130) is one
// JSON document on standard output, and an error is one JSON object on
// standard error: {"error": "...", "code": "schema_mismatch", "exit_code": 1}.
// Scripts branch on code. Progress and warnings go to standard error, as
// JSON objects too unless standard error is a terminal.
package main

import (
	"context"
	"os"

	"golang.org/x/term"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &cli{
		stdin:            os.Stdin,
		stdout:           os.Stdout,
		stderr:           os.Stderr,
		getenv:           os.Getenv,
		stdinIsTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
		stderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	}
	if c.stderrIsTerminal {
		c.stderrWidth, _, _ = term.GetSize(int(os.Stderr.Fd()))
	}
	c.handleSignals(cancel)
	os.Exit(c.run(ctx, os.Args[1:]))
}
