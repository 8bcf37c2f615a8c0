package gormplugin_test

import (
	"context"
	"errors"
	"reflect"

	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/internal/handscoped"
)

// BenchHandScoped is the hand-written baseline made to do colcrypt's
// per-value work (internal/handscoped): the row's tenant checked against
// the context's, a key per (tenant, table, column) looked up in a map, the
// header checked and colcrypt's associated data authenticated. Its
// associated data names bench_encrypteds, so it is byte for byte
// BenchEncrypted's, and its values have the same length.
type BenchHandScoped struct {
	ID       uint
	TenantID string
	A        string `gorm:"serializer:handscoped;type:bytea"`
	B        string `gorm:"serializer:handscoped;type:bytea"`
}

// handScopedBaseline is set by newBenchData, with the header of one of
// BenchEncrypted's stored values, before any BenchHandScoped row is used.
var handScopedBaseline *handscoped.Baseline

// handScopedSerializer is BenchHandScoped's GORM serializer: the row's
// tenant is read from its TenantID field, as a hand-written serializer
// would.
type handScopedSerializer struct{}

func handScopedScope(ctx context.Context, f *schema.Field, row reflect.Value) handscoped.Scope {
	tenant := f.Schema.FieldsByName["TenantID"].ReflectValueOf(ctx, row).String()
	return handscoped.Scope{Tenant: tenant, Table: "bench_encrypteds", Column: f.DBName}
}

func (handScopedSerializer) Scan(ctx context.Context, f *schema.Field, dst reflect.Value, dbValue any) error {
	b, ok := dbValue.([]byte)
	if !ok {
		return errors.New("handscoped: not bytea")
	}
	pt, err := handScopedBaseline.Open(ctx, handScopedScope(ctx, f, dst), b)
	if err != nil {
		return err
	}
	f.ReflectValueOf(ctx, dst).SetString(string(pt))
	return nil
}

func (handScopedSerializer) Value(ctx context.Context, f *schema.Field, dst reflect.Value, v any) (any, error) {
	return handScopedBaseline.Seal(ctx, handScopedScope(ctx, f, dst), []byte(v.(string)))
}

func init() { schema.RegisterSerializer("handscoped", handScopedSerializer{}) }
