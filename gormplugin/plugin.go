package gormplugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
)

// defaultSerializerName is the name fields use in
// `gorm:"serializer:colcrypt"` unless WithSerializerName says otherwise.
const defaultSerializerName = "colcrypt"

// plugin is the GORM plugin New returns. It registers the serializer that
// encrypts tagged fields and the callbacks that fill tenants and blind
// indexes, decrypt rows once their tenant is known, and keep plaintext
// out of updates.
type plugin struct {
	enc      *fieldcore.Engine
	name     string // serializer name, lower case
	keyTable string // "" when AutoMigrate should not create the key table
	reg      *nameReg
}

var _ gorm.Plugin = (*plugin)(nil)

// Option configures the plugin New returns.
type Option func(*plugin)

// WithSerializerName registers the serializer under name instead of
// "colcrypt", so fields say `gorm:"serializer:<name>"`. Two plugins with
// different encryptors on one *gorm.DB need different names.
func WithSerializerName(name string) Option {
	return func(p *plugin) { p.name = strings.ToLower(strings.TrimSpace(name)) }
}

// WithKeyTable names the key table AutoMigrate creates (default
// "colcrypt_keys"). It must match the keystore.WithTable the
// key store was opened with.
func WithKeyTable(table string) Option {
	return func(p *plugin) { p.keyTable = table }
}

// WithoutKeyTable makes AutoMigrate leave the key table alone: for a key
// store in another database, or one created by a migration tool.
func WithoutKeyTable() Option {
	return func(p *plugin) { p.keyTable = "" }
}

// New returns the GORM plugin that encrypts with enc, to install with
// db.Use(gormplugin.New(enc, opts...)). Configuration errors (a nil enc,
// a bad serializer name, a key store on GORM's own pool: ErrSharedPool)
// are returned by db.Use.
//
// Its name in db.Config.Plugins is "colcrypt", or "colcrypt:<name>" with
// WithSerializerName.
func New(enc *field.Encryptor, opts ...Option) gorm.Plugin {
	p := &plugin{enc: (*fieldcore.Engine)(enc), name: defaultSerializerName, keyTable: sqldialect.DefaultKeyTable}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name is the plugin's name in db.Config.Plugins (gorm.Plugin).
func (p *plugin) Name() string { return pluginName(p.name) }

func pluginName(serializer string) string {
	if serializer == defaultSerializerName {
		return "colcrypt"
	}
	return "colcrypt:" + serializer
}

// Initialize registers the serializer and the callbacks; db.Use calls it.
func (p *plugin) Initialize(db *gorm.DB) error {
	if p.enc == nil {
		return errors.New("gormplugin: New: nil *field.Encryptor")
	}
	if p.name == "" || strings.ContainsAny(p.name, ";:, \t") {
		return fmt.Errorf("gormplugin: invalid serializer name %q", p.name)
	}
	if err := p.checkPool(db); err != nil {
		return err
	}
	p.reg = register(p)

	cb := db.Callback()
	prefix := p.Name() + ":"
	errs := []error{
		cb.Create().Before("gorm:begin_transaction").Register(prefix+"prefetch", p.prefetchCreate),
		cb.Create().Before("gorm:create").Register(prefix+"before_create", p.beforeCreate),
		cb.Create().Before("gorm:save_after_associations").Register(prefix+"after_create", p.afterCreate),
		cb.Query().Before("gorm:query").Register(prefix+"before_query", p.beforeQuery),
		cb.Query().Before("gorm:preload").Register(prefix+"after_scan", p.afterScan),
		cb.Update().Before("gorm:update").Register(prefix+"before_update", p.beforeUpdate),
		cb.Update().Before("gorm:save_after_associations").Register(prefix+"after_update", p.afterUpdate),
		cb.Delete().Before("gorm:delete").Register(prefix+"before_delete", p.beforeDelete),
		cb.Row().Before("gorm:row").Register(prefix+"before_row", p.beforeRow),
		cb.Raw().Before("gorm:raw").Register(prefix+"before_raw", p.beginOnly),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gormplugin: register callbacks: %w", err)
	}
	if b, ok := db.ClauseBuilders["ON CONFLICT"]; ok && db.Dialector.Name() == "mysql" {
		db.ClauseBuilders["ON CONFLICT"] = p.mysqlUpsertBuilder(b)
	}
	return nil
}

// nameReg is what one serializer name shares across every *gorm.DB:
// GORM's serializer registry is global, so the serializer finds its
// plugin through the statement (see stmtState), or, outside any
// statement, through the schema or the only plugin of the name.
type nameReg struct {
	name string
	ser  serializer

	mu      sync.Mutex
	plugins []*plugin
	sole    atomic.Pointer[plugin] // set while exactly one plugin uses the name

	owners    sync.Map // *schema.Schema → *plugin that last ran a statement on it
	models    sync.Map // *schema.Schema → *model
	clones    sync.Map // *schema.Schema → *schema.Schema (see clone.go)
	mapClones sync.Map // *schema.Schema → *schema.Schema
}

var registry struct {
	mu    sync.Mutex
	names map[string]*nameReg
}

// register records p under its serializer name, registering the
// serializer with GORM the first time the name is seen.
func register(p *plugin) *nameReg {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.names == nil {
		registry.names = make(map[string]*nameReg)
	}
	r := registry.names[p.name]
	if r == nil {
		r = &nameReg{name: p.name}
		r.ser = serializer{reg: r}
		registry.names[p.name] = r
		schema.RegisterSerializer(p.name, r.ser)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.plugins {
		if q == p {
			return r
		}
	}
	r.plugins = append(r.plugins, p)
	if len(r.plugins) == 1 {
		r.sole.Store(p)
	} else {
		r.sole.Store(nil)
	}
	return r
}

// plugin finds the plugin for a serializer call: the statement's, else
// the one whose DB last used the schema, else the only one of the name.
func (r *nameReg) plugin(ctx context.Context, s *schema.Schema) (*plugin, *stmtState, error) {
	if st, ok := ctx.Value(r).(*stmtState); ok {
		return st.p, st, nil
	}
	if s != nil {
		if p, ok := r.owners.Load(s); ok {
			return p.(*plugin), nil, nil
		}
	}
	if p := r.sole.Load(); p != nil {
		return p, nil, nil
	}
	return nil, nil, ErrNoPlugin
}

// pluginOf returns the plugin installed on db for the serializer name of
// reg.
func pluginOf(db *gorm.DB, r *nameReg) (*plugin, error) {
	if pl, ok := db.Config.Plugins[pluginName(r.name)]; ok {
		if p, ok := pl.(*plugin); ok {
			return p, nil
		}
	}
	return nil, ErrNoPlugin
}

// plugins returns every colcrypt plugin installed on db.
func plugins(db *gorm.DB) []*plugin {
	var out []*plugin
	for _, pl := range db.Config.Plugins {
		if p, ok := pl.(*plugin); ok {
			out = append(out, p)
		}
	}
	return out
}
