package gormplugin

import (
	"context"
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// stmtState is the plugin's state for one GORM statement, carried in the
// statement's context from the plugin's first callback on. Serializer
// calls find their plugin through it (GORM's serializer registry is
// global, the plugin is per *gorm.DB), and reads park values in it until
// their row's tenant is known. A statement runs on one goroutine, so the
// state needs no lock.
type stmtState struct {
	p *plugin

	ctxTenant    string // the context's tenant (field.WithTenant)
	hasCtxTenant bool

	// err is the first error the statement reported; later failures of
	// the same statement are not added again (10,000 rows with a wrong key
	// would otherwise make a 10,000-part error), but their fields stay
	// zero.
	err error

	// query is set for Find/First/Take/Scan-through-Find statements, whose
	// scans the plugin can follow: parked values are settled when the
	// row's tenant column is set (clone.go) or after the scan (afterScan).
	query   bool
	pending []pending

	// sealed holds a Create's rows sealed ahead, by row address (write.go).
	sealed map[uintptr]sealedRow
	// maps is a Create from maps, sealed into copies (write.go).
	maps *createMaps
	// setByPlugin: the SET clause is the plugin's, removed after the update.
	setByPlugin bool
	// scoped: the tenant condition is on the UPDATE or DELETE (scope.go).
	scoped bool
	// upsert is set for an upsert limited to the context's tenant (upsert.go).
	upsert *upsertGuard
	// where holds the WHERE conditions as the caller wrote them while the
	// rewritten ones (rewrite.go) stand in for them.
	where     []clause.Expression
	rewritten []clause.Expression

	// The hot path's caches (cipher.go).
	defaultDone   bool
	defaultTenant string // the context's tenant, else the fixed one
	defaultErr    error
	handles       map[handleKey]*fieldcore.Handle
	recent        [recentHandles]recentHandle
	recentNext    int
	buf           []byte // plaintext scratch

	// schema is the statement's own schema while a clone stands in for
	// it during gorm:query or gorm:create.
	schema *schema.Schema
	parent context.Context // the statement's context before begin
	self   context.Context // parent with this state
}

// pending is an encrypted value read before its row's tenant.
type pending struct {
	ef     *encField
	row    reflect.Value // the struct being scanned (or a pointer to it)
	key    uintptr       // its address, with ef.m telling nested structs apart
	stored []byte        // a copy: the driver may reuse its buffer
	guess  string        // the tenant it was opened under, if guessed
	opened bool          // opened under guess
	err    error         // the failure to open under guess, or ErrNoTenant
}

// begin attaches a fresh state to db's statement.
func (p *plugin) begin(db *gorm.DB) *stmtState {
	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if prev, ok := ctx.Value(p.reg).(*stmtState); ok && prev.self == ctx {
		// A statement reused for another operation: replace the previous
		// operation's state rather than stack a context on it per call.
		ctx = prev.parent
	}
	st := &stmtState{p: p, parent: ctx}
	st.ctxTenant, st.hasCtxTenant = field.TenantFromContext(ctx)
	st.self = context.WithValue(ctx, p.reg, st)
	db.Statement.Context = st.self
	if s := db.Statement.Schema; s != nil {
		if v, ok := p.reg.owners.Load(s); !ok || v.(*plugin) != p {
			p.reg.owners.Store(s, p)
		}
	}
	return st
}

// beginOnly is the callback of statements that need nothing but the
// state: deletes, Row/Rows/Scan and Exec.
func (p *plugin) beginOnly(db *gorm.DB) { p.begin(db) }

// report returns err the first time the statement fails, nil afterwards.
func (st *stmtState) report(err error) error {
	if err == nil || st == nil {
		return err
	}
	if st.err != nil {
		return nil
	}
	st.err = err
	return err
}

// rowKey is the address of the struct v (a pointer, or an addressable
// struct), 0 if it has none.
func rowKey(v reflect.Value) uintptr {
	switch {
	case v.Kind() == reflect.Pointer:
		return v.Pointer()
	case v.CanAddr():
		return v.Addr().Pointer()
	}
	return 0
}

// tenantRead runs after the tenant field of m was set in row during a
// followed scan: the values of the row parked before it are opened with
// the row's tenant, and a tenant that differs from the context's is
// refused.
func (st *stmtState) tenantRead(ctx context.Context, m *model, row reflect.Value) error {
	t := m.tenantOf(row)
	var first error
	if st.hasCtxTenant && t != "" && t != st.ctxTenant {
		if _, err := st.p.enc.ResolveTenant(ctx, t); err != nil {
			first = &FieldError{Op: "open", Model: m.name, Field: m.tenant.Name, Table: m.schema.Table, Column: m.tenant.DBName, Err: err}
		}
	}
	if len(st.pending) > 0 {
		key := rowKey(row)
		kept := st.pending[:0]
		for _, e := range st.pending {
			if e.key != key || e.ef.m != m || !e.ef.hasRowKey(row) {
				kept = append(kept, e)
				continue
			}
			if err := st.settle(ctx, e, t); err != nil && first == nil {
				first = err
			}
		}
		clear(st.pending[len(kept):])
		st.pending = kept
	}
	return st.report(first)
}

// settle opens a parked value now that its row's tenant t is known.
func (st *stmtState) settle(ctx context.Context, e pending, t string) error {
	if e.ef.bound != nil {
		return st.settleBound(ctx, e, t)
	}
	tenant, err := st.p.enc.ResolveTenant(ctx, t)
	if err != nil {
		return e.ef.errorf("open", err)
	}
	if tenant == e.guess {
		return e.err // opened (nil) or failed under this very tenant
	}
	rv := e.ef.f.ReflectValueOf(ctx, e.row)
	if err := e.ef.openInto(ctx, st.p, st, tenant, "", e.stored, rv); err != nil {
		rv.Set(reflect.Zero(rv.Type()))
		return err
	}
	return nil
}

// leftovers settles what no tenant column settled: values of rows whose
// tenant column was not selected (the guess, if any, was right), and
// values of scans the plugin could not follow (an error, never a silent
// wrong or missing value).
func (st *stmtState) leftovers(ctx context.Context) error {
	var first error
	for _, e := range st.pending {
		if e.ef.bound != nil {
			if err := st.leftoverBound(ctx, e); err != nil && first == nil {
				first = err
			}
			continue
		}
		t := e.ef.m.tenantOf(e.row)
		tenant, err := st.p.enc.ResolveTenant(ctx, t)
		switch {
		case err != nil:
			if t == "" {
				err = e.err // ErrNoTenant, or the guess's failure
			}
			err = e.ef.errorf("open", err)
		case tenant == e.guess:
			if !e.opened {
				err = e.ef.errorf("open", e.err)
			}
		default:
			err = e.ef.errorf("open", ErrTenantOrder)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	clear(st.pending)
	st.pending = nil
	return st.report(first)
}
