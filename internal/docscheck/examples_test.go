package docscheck

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
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
