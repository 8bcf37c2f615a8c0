package docscheck

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// examplePackages are the packages whose pkg.go.dev pages must show a
// runnable example: every package a user imports directly.
var examplePackages = []string{
	"field",
	"testhelpers",
	"keystore",
	"gormplugin",
	"sqltypes",
	"migrate",
	"codec",
	"kms",
}

// TestPackagesHaveExamples checks that each package in examplePackages
// declares at least one Example function that go test runs (one with an
// Output comment, empty or not), so the examples cannot silently
// disappear or turn into code that is only compiled.
func TestPackagesHaveExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, pkg := range examplePackages {
		t.Run(pkg, func(t *testing.T) {
			exs := examples(t, filepath.Join(root, pkg))
			run := 0
			for _, ex := range exs {
				if ex.Output != "" || ex.EmptyOutput {
					run++
				}
			}
			if run == 0 {
				t.Errorf("package %s: %d Example functions, none with an // Output: comment; want at least one that go test runs", pkg, len(exs))
			}
		})
	}
}

// examples returns the Example functions declared in dir's _test.go files.
func examples(t *testing.T, dir string) []*doc.Example {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("%s: no _test.go files (moved?)", dir)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return doc.Examples(files...)
}

// exampleDirs maps the package names docs/EXAMPLES.md uses to their
// directories, relative to the repository root.
var exampleDirs = map[string]string{
	"field":       "field",
	"testhelpers": "testhelpers",
	"keystore":    "keystore",
	"gormplugin":  "gormplugin",
	"sqltypes":    "sqltypes",
	"migrate":     "migrate",
	"codec":       "codec",
	"kms":         "kms",
	"localkms":    "kms/localkms",
	"gcpkms":      "kms/gcpkms",
	"awskms":      "kms/awskms",
}

var exampleRefRE = regexp.MustCompile("`([a-z]+)\\.(Example[A-Za-z0-9_]*)`")

// TestExamplesPageNamesRealExamples checks that every example
// docs/EXAMPLES.md names is declared in its package, so the page cannot
// point a reader at an example that was renamed or removed.
func TestExamplesPageNamesRealExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	page, err := os.ReadFile(filepath.Join(root, "docs", "EXAMPLES.md"))
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]map[string]bool{} // package → example function names
	refs := exampleRefRE.FindAllStringSubmatch(string(page), -1)
	if len(refs) < 20 {
		t.Fatalf("docs/EXAMPLES.md names %d examples; the page was not parsed", len(refs))
	}
	for _, ref := range refs {
		pkg, name := ref[1], ref[2]
		dir, ok := exampleDirs[pkg]
		if !ok {
			t.Errorf("docs/EXAMPLES.md names %s.%s: unknown package %s", pkg, name, pkg)
			continue
		}
		if declared[pkg] == nil {
			declared[pkg] = map[string]bool{}
			for _, ex := range examples(t, filepath.Join(root, dir)) {
				declared[pkg]["Example"+exampleName(ex)] = true
			}
		}
		if !declared[pkg][name] {
			t.Errorf("docs/EXAMPLES.md names %s.%s, which %s does not declare", pkg, name, dir)
		}
	}
}

// exampleName is the function name of ex without its "Example" prefix:
// doc.Example splits a lower-case suffix off with its underscore.
func exampleName(ex *doc.Example) string {
	if ex.Suffix == "" {
		return ex.Name
	}
	return strings.TrimSuffix(ex.Name, "_"+ex.Suffix) + "_" + ex.Suffix
}
