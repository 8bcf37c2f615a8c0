package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/colcrypt/colcrypt/kms/localkms"
)

func (c *cli) keysNewLocalKeyCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "new-local-key PATH",
		Short: "Create a local master key file (development and tests only), or add a key to one",
		Long: `Create the key file PATH with a new random master key named --id, readable by
its owner only (mode 0600), and print the --kms URL that uses it. If PATH
exists, the new key is added to it, which is how a local master key rotates
(then "colcrypt keys rewrap --to <new URL> --old-kms <old URL>"); an id already
in the file is refused, so no key is ever overwritten. It needs no database.

A local key file is for development, tests and demos: whoever can read it can
unwrap every data key. Use a cloud KMS (awskms://, gcpkms://) for real data.`,
		Example: `  colcrypt keys new-local-key ./master.keys
  export COLCRYPT_KMS=local://$PWD/master.keys?id=k1
  colcrypt keys new-local-key ./master.keys --id k2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("new-local-key needs one PATH, the key file to create")
			}
			return nil
		},
		RunE: action(func(cmd *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[0])
			if err != nil {
				return usageErr("new-local-key %s: %v", args[0], err)
			}
			if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
				return usageErr("new-local-key: %s is not a regular file", path)
			}
			_, statErr := os.Stat(path)
			existed := statErr == nil
			if existed {
				c.warnKeyFile(path)
			}
			if err := localkms.GenerateKeyFile(path, id); err != nil {
				return err
			}
			u := localkms.FileURL(path, id)
			out := struct {
				Path    string `json:"path"`
				ID      string `json:"id"`
				URL     string `json:"kms_url"`
				Created bool   `json:"created"`
			}{path, id, u, !existed}
			return c.emit(out, func(w io.Writer) {
				if existed {
					fmt.Fprintf(w, "added master key %s to %s\n", id, path)
				} else {
					fmt.Fprintf(w, "created %s (mode 0600) with master key %s\n", path, id)
				}
				fmt.Fprintf(w, "use it with: --kms '%s'  (or export %s='%s')\n", u, envKMS, u)
			})
		}),
	}
	cmd.Flags().StringVar(&id, "id", "k1", "id of the new key (1 to 64 of A-Z a-z 0-9 . _ -)")
	return cmd
}

// warnKeyFile prints a warning when the key file a local:// URL (or path)
// names can be read by group or others. It does not stop the command: the
// operator may have reasons (a read-only secret mount), but must be told.
func (c *cli) warnKeyFile(urlOrPath string) {
	err := localkms.CheckURL(urlOrPath)
	if filepath.IsAbs(urlOrPath) {
		err = localkms.CheckURL(localkms.FileURL(urlOrPath, ""))
	}
	var ex *localkms.ExposedKeyFileError
	if !errors.As(err, &ex) {
		return
	}
	if c.output == "json" {
		b, _ := json.Marshal(map[string]string{"warning": ex.Error(), "code": "key_file_exposed"})
		fmt.Fprintf(c.stderr, "%s\n", b)
		return
	}
	fmt.Fprintf(c.stderr, "colcrypt: warning: %s\n", ex.Error())
}

// kmsOpenHint adds to a failed open of a local:// URL the command that
// creates the missing key file.
func kmsOpenHint(kmsURL string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var pe *fs.PathError
	if !errors.As(localkms.CheckURL(kmsURL), &pe) || !errors.Is(pe, fs.ErrNotExist) {
		return err
	}
	id := "k1"
	if u, perr := url.Parse(kmsURL); perr == nil && u.Query().Get("id") != "" {
		id = u.Query().Get("id")
	}
	return fmt.Errorf("%w (create it with: colcrypt keys new-local-key %s --id %s)", err, pe.Path, id)
}
