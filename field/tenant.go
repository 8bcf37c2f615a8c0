package field

import (
	"context"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// WithTenant returns a context that carries the request's tenant. Values
// sealed or opened with it, where the row names no tenant, use this tenant;
// a row that names another tenant is refused (ErrTenantMismatch).
func WithTenant(ctx context.Context, tenant string) context.Context {
	return fieldcore.WithTenant(ctx, tenant)
}

// TenantFromContext returns the tenant set by WithTenant.
func TenantFromContext(ctx context.Context) (string, bool) {
	return fieldcore.TenantFromContext(ctx)
}
