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

const codecPath = "github.com/colcrypt/colcrypt/codec"

// codecNames are codec's cipher and nonce identifiers: an integration
// that names one holds a cipher of its own.
var codecNames = map[string]bool{
	"Cipher": true, "NewCipher": true, "Nonces": true, "NewNonces": true,
	"ErrCipherDestroyed": true,
}

// cipherMethods hand out or use a codec cipher or nonces, whatever the
// receiver is called in the integration's code.
var cipherMethods = map[string]bool{
	"SealNonces": true, "ActiveCipher": true, "VersionCipher": true,
	"OpenValue": true, "OpenValueRow": true, "SealDeterministicRow": true,
}

// TestIntegrationsUseHandles parses the non-test Go files of each
// integration and fails on every reference to codec's cipher or nonce
// types and on every call of a method that hands one out or uses one:
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

// TestLintFindsCipherRefs checks the check: a file that names a cipher,
// a nonce buffer and SealNonces is caught on each, through a renamed
// import too.
func TestLintFindsCipherRefs(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import cc "github.com/colcrypt/colcrypt/codec"

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
	if len(found) != 3 {
		t.Errorf("found %d references, want 3: %q", len(found), found)
	}
}

// cipherRefs returns, sorted, where the non-test Go files of dir refer
// to codec's cipher or nonce types or call a method in cipherMethods.
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
		codecName := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == codecPath {
				codecName = "codec"
				if imp.Name != nil {
					codecName = imp.Name.Name
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			at := fset.Position(sel.Pos())
			where := fmt.Sprintf("%s:%d", filepath.Base(at.Filename), at.Line)
			if x, ok := sel.X.(*ast.Ident); ok && codecName != "" && x.Name == codecName && codecNames[sel.Sel.Name] {
				found = append(found, where+": codec."+sel.Sel.Name)
			} else if cipherMethods[sel.Sel.Name] {
				found = append(found, where+": ."+sel.Sel.Name)
			}
			return true
		})
	}
	sort.Strings(found)
	return found, nil
}
