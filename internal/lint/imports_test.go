package lint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// integrations are the packages that must reach keys only through field.
var integrations = []string{"gormplugin", "sqltypes", "migrate"}

// cipherPath is the package of the ciphers and nonce buffers: an
// integration that imports it (the compiler allows any package of the
// module to) can hold a cipher of its own.
const cipherPath = "github.com/colcrypt/colcrypt/internal/cipher"

// cipherMethods hand out or use a codec cipher or nonces, whatever the
// receiver is called in the integration's code.
var cipherMethods = map[string]bool{
	"SealNonces": true, "ActiveCipher": true, "VersionCipher": true,
	"OpenValue": true, "OpenValueRow": true, "SealDeterministicRow": true,
}

// TestIntegrationsUseHandles parses the non-test Go files of each
// integration and fails on every import of internal/cipher, every use of
// it, and every call of a method that hands out a cipher or uses one:
// see the package comment.
func TestIntegrationsUseHandles(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, pkg := range integrations {
		found, err := cipherRefs(filepath.Join(root, pkg))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			t.Errorf("%s: %s reaches past the column handle", pkg, f)
		}
	}
}

// TestLintFindsCipherRefs checks the check: a file that imports the
// cipher package (under another name), names a cipher and a nonce buffer
// and calls SealNonces is caught on each.
func TestLintFindsCipherRefs(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import cc "github.com/colcrypt/colcrypt/internal/cipher"

var n cc.Nonces

func f(c *cc.Cipher, p []byte) { c.SealNonces(nil, p, &n) }
`
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	found, err := cipherRefs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 4 {
		t.Errorf("found %d references, want 4: %q", len(found), found)
	}
}

// cipherRefs returns, sorted, where the non-test Go files of dir import
// or use internal/cipher or call a method in cipherMethods.
func cipherRefs(dir string) ([]string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("lint: no Go files in %s", dir)
	}
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		cipherName := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == cipherPath {
				cipherName = "cipher"
				if imp.Name != nil {
					cipherName = imp.Name.Name
				}
				at := fset.Position(imp.Pos())
				found = append(found, fmt.Sprintf("%s:%d: imports %s", filepath.Base(at.Filename), at.Line, cipherPath))
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			at := fset.Position(sel.Pos())
			where := fmt.Sprintf("%s:%d", filepath.Base(at.Filename), at.Line)
			if x, ok := sel.X.(*ast.Ident); ok && cipherName != "" && x.Name == cipherName {
				found = append(found, where+": cipher."+sel.Sel.Name)
			} else if cipherMethods[sel.Sel.Name] {
				found = append(found, where+": ."+sel.Sel.Name)
			}
			return true
		})
	}
	sort.Strings(found)
	return found, nil
}
