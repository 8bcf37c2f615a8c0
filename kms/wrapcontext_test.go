package kms_test

import (
	"bytes"
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
