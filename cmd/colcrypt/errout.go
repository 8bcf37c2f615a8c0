package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/migrate"
)

// errorJSON is the one object "-o json" writes to standard error when a
// command fails: a script branches on code (stable, snake_case), shows
// message to a person, and reads the exit code without a shell.
type errorJSON struct {
	Error    string `json:"error"`
	Code     string `json:"code"`
	ExitCode int    `json:"exit_code"`
}

// errorCodes name the library errors a script may branch on; the first
// match wins. Anything else is named by its exit code.
var errorCodes = []struct {
	err  error
	code string
}{
	{context.Canceled, "interrupted"},
	{context.DeadlineExceeded, "interrupted"},
	{errVerifyFailed, "verify_failed"},
	{migrate.ErrRowsFailed, "rows_failed"},
	{errDoctorFailed, "doctor_failed"},
	{migrate.ErrInvalidJob, "invalid_job"},
	{migrate.ErrNoJob, "no_such_job"},
	{migrate.ErrSchema, "schema_mismatch"},
	{keystore.ErrAuditChainBroken, "audit_chain_broken"},
	{keystore.ErrAuditTable, "audit_table_unavailable"},
	{keystore.ErrUnknownMasterKey, "master_key_not_configured"},
	{keystore.ErrLastCopy, "last_copy"},
	{keystore.ErrKeyDestroyed, "key_destroyed"},
	{keystore.ErrKeyNotFound, "key_not_found"},
	{kms.ErrUnknownScheme, "unknown_kms_scheme"},
	{kms.ErrUnwrap, "kms_unwrap_failed"},
	{fs.ErrExist, "file_exists"},
	{fs.ErrNotExist, "file_not_found"},
}

func errorCode(ee *exitError) string {
	for _, c := range errorCodes {
		if errors.Is(ee.err, c.err) {
			return c.code
		}
	}
	switch ee.code {
	case exitUsage:
		return "usage"
	case exitProblems:
		return "problems"
	case exitInterrupted:
		return "interrupted"
	}
	return "failure"
}

// emitError writes ee as one JSON object on standard error.
func (c *cli) emitError(ee *exitError) {
	b, err := json.Marshal(errorJSON{Error: c.message(ee), Code: errorCode(ee), ExitCode: ee.code})
	if err != nil { // strings and ints: cannot fail
		fmt.Fprintf(c.stderr, "colcrypt: %s\n", c.message(ee))
		return
	}
	fmt.Fprintf(c.stderr, "%s\n", b)
}

// libraryWords turn the library's names for things (Go fields and
// options) into the flags an operator types. The library's errors are
// written for Go callers; the CLI's reader has only the flags.
var libraryWords = strings.NewReplacer(
	"run the job again with Restart (colcrypt: --restart)", "run the same command again with --restart",
	"with the PK option (--pk)", "with --pk",
	"the PK option", "--pk",
	"; drop ToColumn", "; drop --to-column",
	"give a tenant column or a fixed tenant, not both", "give --tenant-column or --tenant, not both",
	"rerun the job to resume", "run the same command again to resume",
	"finish it, or pick another job id", "finish it (run its command again), or give this one another --job",
	`\u003e`, ">", // a job spec quoted from the checkpoint: "->" in its id
)

// message is the text a failed command ends with. A stopped job gets one
// message that names what stopped it, in place of the library's
// "interrupted … context canceled".
func (c *cli) message(ee *exitError) string {
	if interrupted(ee.err) {
		return c.stoppedBy() + " after the batch in flight; the checkpoint is saved: run the same command again to resume"
	}
	return cliMessage(ee.err)
}

// cliMessage is err's text in the CLI's words.
func cliMessage(err error) string {
	return libraryWords.Replace(err.Error())
}

// wantsJSON says whether args ask for JSON output. It is read from the
// raw arguments because an error in parsing them (an unknown flag before
// -o json) leaves the parsed --output unset, and that error must come out
// as JSON too.
func wantsJSON(args []string) bool {
	for i, a := range args {
		if a == "--" {
			return false
		}
		switch {
		case a == "-ojson", a == "--output=json", a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// interrupted reports whether err is a job stopped by its context (a
// signal): the batch in flight was committed or rolled back whole.
func interrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// errVerifyFailed is the code of a verify whose column does not hold
// what was expected (verifyFailed), told apart from a migration's
// rows_failed.
var errVerifyFailed = errors.New("verify found problems")

// verifyFailed is Verify's error, unchanged in its message, matching
// errVerifyFailed too.
type verifyFailed struct{ err error }

func (e verifyFailed) Error() string        { return e.err.Error() }
func (e verifyFailed) Unwrap() error        { return e.err }
func (e verifyFailed) Is(target error) bool { return target == errVerifyFailed }
