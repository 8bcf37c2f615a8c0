//go:build ignore

// count-exported counts the library's exported API: top-level exported
// types, functions, variables and constants, and exported methods of
// exported types (a method of an unexported type is not API), per
// package, leaving out internal/, cmd/, examples/, bench/ and tests.
// Struct fields are not counted. Run from the repository root:
//
//	go run scripts/count-exported.go
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	counts := map[string]int{}
	filepath.Walk(".", func(p string, info os.FileInfo, err error) error {
		if info.IsDir() {
			n := info.Name()
			if n == "internal" || n == "cmd" || n == "examples" || n == "bench" || n == "testdata" || (strings.HasPrefix(n, ".") && n != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return nil
		}
		pkg := filepath.Dir(p)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || recvExported(d.Recv)) {
					counts[pkg]++ // a function, or a method
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							counts[pkg]++
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								counts[pkg]++
							}
						}
					}
				}
			}
		}
		return nil
	})
	var ks []string
	tot := 0
	for k, v := range counts {
		ks = append(ks, k)
		tot += v
	}
	sort.Strings(ks)
	for _, k := range ks {
		fmt.Println(counts[k], k)
	}
	fmt.Println(tot, "total")
}

func recvExported(fl *ast.FieldList) bool {
	t := fl.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
