package fieldcore

import (
	"context"
	"fmt"
)

type tenantKey struct{}

// WithTenant returns a context that carries the request's tenant. Values
// sealed or opened with it, where the row names no tenant, use this tenant;
// a row that names another tenant is refused.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFromContext returns the tenant set by WithTenant.
func TenantFromContext(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(tenantKey{}).(string)
	return t, ok && t != ""
}

// ResolveTenant decides a row's tenant: the row's own tenant if it has one
// (refused if the context names another), else the context's, else the
// Engine's fixed tenant.
func (e *Engine) ResolveTenant(ctx context.Context, rowTenant string) (string, error) {
	ctxTenant, inCtx := TenantFromContext(ctx)
	switch {
	case rowTenant != "":
		if inCtx && ctxTenant != rowTenant {
			return "", fmt.Errorf("%w: row %q, context %q", ErrTenantMismatch, rowTenant, ctxTenant)
		}
		return rowTenant, nil
	case inCtx:
		return ctxTenant, nil
	case e.s.fixedTenant != "":
		return e.s.fixedTenant, nil
	}
	return "", ErrNoTenant
}
