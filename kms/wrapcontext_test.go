package kms_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
)

// TestWrapContextAAD pins the canonical encoding: keys wrapped by earlier
// releases bound exactly these bytes, so a change here would make them
// fail to unwrap.
func TestWrapContextAAD(t *testing.T) {
	long := strings.Repeat("t", 200)
	for _, tt := range []struct {
		wc   kms.WrapContext
		want []byte
	}{
		{kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}, []byte("\x0fcolcrypt/dek/v1\x08tenant-a\x011")},
		{kms.WrapContext{Purpose: "p", Version: 4294967295}, []byte("\x01p\x00\x0a4294967295")},
		{kms.WrapContext{}, []byte("\x00\x00\x010")},
		{kms.WrapContext{Purpose: "p", Tenant: long, Version: 12}, append(append([]byte("\x01p\xc8\x01"), long...), "\x0212"...)},
	} {
		if got := tt.wc.AAD(); !bytes.Equal(got, tt.want) {
			t.Errorf("%+v.AAD() = %q, want %q", tt.wc, got, tt.want)
		}
	}
	// Length prefixes keep a byte moved across a field boundary apart.
	a := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: "tenant-a", Version: 1}
	b := kms.WrapContext{Purpose: "colcrypt/dek/v1t", Tenant: "enant-a", Version: 1}
	if bytes.Equal(a.AAD(), b.AAD()) {
		t.Errorf("AAD(%+v) = AAD(%+v), want them distinct", a, b)
	}
}

// TestWrapContextVectors checks AAD against the kms_context of every
// vector in codec/testdata/vectors.json, the bytes a second
// implementation binds (docs/FORMAT.md, "Data key wrap context").
func TestWrapContextVectors(t *testing.T) {
	data, err := os.ReadFile("../codec/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name       string `json:"name"`
			Tenant     string `json:"tenant"`
			Version    uint32 `json:"version"`
			KMSContext string `json:"kms_context"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("vectors.json holds no vectors")
	}
	for _, v := range file.Vectors {
		wc := kms.WrapContext{Purpose: "colcrypt/dek/v1", Tenant: v.Tenant, Version: v.Version}
		if got := hex.EncodeToString(wc.AAD()); got != v.KMSContext {
			t.Errorf("%s: %+v.AAD() = %s, want kms_context %s", v.Name, wc, got, v.KMSContext)
		}
	}
}
