package readmetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// snippet returns the first ```go block after heading in the markdown.
func snippet(t *testing.T, md, heading string) string {
	t.Helper()
	i := strings.Index(md, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	rest := md[i:]
	if next := strings.Index(rest[1:], "\n## "); next >= 0 {
		rest = rest[:next+1]
	}
	const open = "\n```go\n"
	j := strings.Index(rest, open)
	if j < 0 {
		t.Fatalf("README.md section %q has no ```go block", heading)
	}
	body := rest[j+len(open):]
	k := strings.Index(body, "\n```")
	if k < 0 {
		t.Fatalf("README.md section %q: unterminated ```go block", heading)
	}
	return body[:k+1]
}

// TestReadmeSnippetBuilds builds the README's "What you write" block as
// the only file of a main package inside this module: it must compile
// as written, and import a KMS driver so that kms.Open knows the URL's
// scheme.
func TestReadmeSnippetBuilds(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src := snippet(t, string(md), "## What you write")
	if !strings.HasPrefix(src, "package main\n") {
		t.Fatalf("the README snippet does not start with \"package main\": it cannot be built as written:\n%s", src)
	}
	if !strings.Contains(src, `"github.com/colcrypt/colcrypt/kms/`) || !strings.Contains(src, "kms.Open(") {
		t.Errorf("the README snippet calls kms.Open without importing a KMS driver package (kms/gcpkms, kms/awskms, kms/localkms)")
	}
	// Inside the module, so that it builds against this checkout and its
	// go.mod; a directory name go's ./... patterns skip.
	dir, err := os.MkdirTemp(".", "_snippet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./"+filepath.ToSlash(dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the README snippet: %v\n%s\nsnippet:\n%s", err, out, src)
	}
}
