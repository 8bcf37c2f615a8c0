package normalize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestNormalizerVectors checks every normalizer against the vectors in
// codec/testdata/normalizers.json, which docs/FORMAT.md points a second
// implementation to, and that each normalizer has a vector of its own.
func TestNormalizerVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "codec", "testdata", "normalizers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Normalizers []string
			Input       string
			Output      string
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors in normalizers.json")
	}
	alone := map[string]bool{}
	for _, v := range file.Vectors {
		ns := make([]Func, 0, len(v.Normalizers))
		for _, name := range v.Normalizers {
			n, err := Lookup(name)
			if err != nil {
				t.Fatalf("vector names %q: %v", name, err)
			}
			ns = append(ns, n)
		}
		if len(v.Normalizers) == 1 {
			alone[v.Normalizers[0]] = true
		}
		if got := Chain(ns...)(v.Input); got != v.Output {
			t.Errorf("%v(%+q) = %+q, want %+q", v.Normalizers, v.Input, got, v.Output)
		}
	}
	for _, name := range Names() {
		if !alone[name] {
			t.Errorf("normalizer %q has no vector of its own", name)
		}
	}
}
