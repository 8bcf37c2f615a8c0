package docscheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// packageDirs maps the package names SECURITY.md's table uses to their
// directories, relative to the repository root.
var packageDirs = map[string]string{
	"codec":        "codec",
	"cipher":       "internal/cipher",
	"keystore":     "keystore",
	"field":        "field",
	"sqltypes":     "sqltypes",
	"gormplugin":   "gormplugin",
	"migrate":      "migrate",
	"cmd/colcrypt": "cmd/colcrypt",
	"localkms":     "kms/localkms",
	"awskms":       "kms/awskms",
	"kmstest":      "kms/kmstest",
	"kms":          "kms",
	"secret":       "internal/secret",
	"lint":         "internal/lint",
}

var (
	pkgRE  = regexp.MustCompile(`(?:^|[;(]\s*|\s)(codec|cipher|keystore|field|sqltypes|gormplugin|migrate|cmd/colcrypt|localkms|awskms|kmstest|kms|secret|lint) `)
	testRE = regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)(?:/([A-Za-z0-9_]+))?[^`]*`")
)

// TestSecurityTableNamesRealTests reads the "Attacks and what stops them"
// table of SECURITY.md and checks that each test it cites is declared in
// the package the row names, so the table cannot drift from the tests.
func TestSecurityTableNamesRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## Attacks and what stops them")
	if !ok {
		t.Fatal(`SECURITY.md has no "## Attacks and what stops them" section`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	decls := map[string]string{} // dir → every _test.go file's text
	cited := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.Contains(cells[3], "Test") && !strings.Contains(cells[3], "Fuzz") {
			continue
		}
		// The tests cell: "pkg `TestA`, `TestB`; pkg2 `TestC`".
		for _, group := range strings.Split(cells[3], ";") {
			m := pkgRE.FindStringSubmatch(" " + group)
			if m == nil {
				t.Errorf("SECURITY.md: %q names tests without a package", strings.TrimSpace(group))
				continue
			}
			dir := packageDirs[m[1]]
			src, ok := decls[dir]
			if !ok {
				src = readTests(t, filepath.Join(root, dir))
				decls[dir] = src
			}
			for _, tm := range testRE.FindAllStringSubmatch(group, -1) {
				name, sub := tm[1], tm[2]
				cited++
				if !strings.Contains(src, "func "+name+"(") {
					t.Errorf("SECURITY.md cites %s %s, which %s does not declare", m[1], name, dir)
				}
				// A subtest (or a prefix of several, as in Delete*) is named
				// by a string literal in the test's table.
				if sub != "" && !strings.Contains(src, `"`+sub) {
					t.Errorf("SECURITY.md cites %s %s/%s: no subtest of that name in %s", m[1], name, sub, dir)
				}
			}
		}
	}
	if cited < 20 {
		t.Fatalf("SECURITY.md's table cites %d tests; the table was not parsed", cited)
	}
}

func readTests(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s (%v)", dir, err)
	}
	var b strings.Builder
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}
