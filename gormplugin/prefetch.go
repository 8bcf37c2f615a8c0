package gormplugin

import (
	"context"
	"reflect"

	"gorm.io/gorm"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// prefetchCreate runs before gorm:begin_transaction of a Create: it makes
// sure the key store holds the active key (and, for a model with a blind
// index, the index key) of every tenant the rows name
// (or of the context's or fixed tenant, for rows that name none), so that
// a new tenant's key is created, and wrapped by the KMS, before GORM
// takes a connection for the statement's transaction. A KMS call can take
// a second or more under retries; made inside the transaction it would
// hold a database connection (and, on SQLite, the write lock) all that
// time.
//
// It only warms the key store's cache; sealing still happens in
// beforeCreate, after the model's BeforeSave/BeforeCreate hooks, which
// may still set the tenant or the values. A row whose tenant cannot be
// resolved yet (no tenant anywhere, a mismatch) is left to beforeCreate,
// which reports it after the hooks. A key-store failure for a tenant
// that resolves (KMS down, key destroyed) fails the statement here, with
// the error beforeCreate would have returned, before any transaction
// begins. Inside db.Transaction, and in CreateInBatches of more than one
// batch (which opens its own transaction first), the connection is
// already held and this changes nothing but where the key is fetched;
// there only the key store's own pool keeps it from deadlocking.
//
// Updates are not prefetched: an update that touches no encrypted column
// needs no key, and must not create one.
func (p *plugin) prefetchCreate(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || stmt.Schema == nil {
		return
	}
	m := p.reg.model(stmt.Schema)
	if m == nil || m.err != nil || len(m.fields) == 0 {
		return
	}
	ctx := stmt.Context
	var (
		tenants   []string // distinct, resolved; a statement has few
		last      string
		seen      bool
		unnamed   bool // a row (or a map) without a tenant of its own
		structRow bool
	)
	add := func(rowTenant string) {
		if seen && rowTenant == last {
			return
		}
		seen, last = true, rowTenant
		tenant, err := p.enc.ResolveTenant(ctx, rowTenant)
		if err != nil {
			return // beforeCreate reports it, after the hooks
		}
		for _, t := range tenants {
			if t == tenant {
				return
			}
		}
		tenants = append(tenants, tenant)
	}
	eachRow(stmt.ReflectValue, func(row reflect.Value) error {
		structRow = true
		if t := m.tenantOf(row); t != "" {
			add(t)
		} else {
			unnamed = true
		}
		return nil
	})
	if unnamed || !structRow {
		add("")
	}
	for _, tenant := range tenants {
		h, err := p.enc.Handle(ctx, m.fields[0].scope(tenant))
		if err == nil {
			_, err = h.KeyVersion(ctx)
		}
		if err != nil {
			db.AddError(m.fields[0].errorf("seal", err))
			return
		}
		if err := p.prefetchIndexKey(ctx, m, tenant); err != nil {
			db.AddError(err)
			return
		}
	}
}

// prefetchIndexKey is prefetchCreate's step for the tenant's index key,
// when the model has an index taken under it: one index is enough, since
// the key is the tenant's, whatever it indexes.
func (p *plugin) prefetchIndexKey(ctx context.Context, m *model, tenant string) error {
	for _, ef := range m.fields {
		if ef.bidx == nil || ef.spec.BlindIndex.Keying == field.IndexLegacy {
			continue
		}
		if err := p.enc.PrefetchIndexKey(ctx, ef.scope(tenant), ef.spec.BlindIndex, nil); err != nil {
			return ef.errorf("blind index", err)
		}
		return nil
	}
	if len(m.indexes) > 0 {
		x := m.indexes[0]
		s := fieldcore.Scope{Tenant: tenant, Table: m.schema.Table}
		if err := p.enc.PrefetchIndexKey(ctx, s, nil, x.ix); err != nil {
			return x.errorf("index", err)
		}
	}
	return nil
}
