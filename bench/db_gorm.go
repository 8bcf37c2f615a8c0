package main

import (
	"context"
	"fmt"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
)

// gormBatch is the rows per Create and per Find.
const gormBatch = 100

// The models: the same row in plaintext and with colcrypt, in a table for
// inserts and a table for selects each.
type (
	gormPlain struct {
		ID       int64
		TenantID string `gorm:"index"`
		Name     string
		Email    string
	}
	gormSealed struct {
		ID       int64
		TenantID string `gorm:"index" colcrypt:"tenant"`
		Name     string `gorm:"serializer:colcrypt"`
		Email    string `gorm:"serializer:colcrypt"`
	}
	gormPlainSel  gormPlain
	gormSealedSel gormSealed
)

func (gormPlain) TableName() string     { return "bench_gorm_plain" }
func (gormSealed) TableName() string    { return "bench_gorm_sealed" }
func (gormPlainSel) TableName() string  { return "bench_gorm_plain_sel" }
func (gormSealedSel) TableName() string { return "bench_gorm_sealed_sel" }

// gormVariants measures GORM Create (batches of gormBatch rows of one
// tenant) and Find (a tenant's gormBatch rows by tenant_id), plaintext on a
// gorm.DB without the plugin against colcrypt on one with it.
func gormVariants(ctx context.Context, e *dbEnv, cfg *config) ([]*dbVariant, error) {
	open := func() (*gorm.DB, error) {
		return gorm.Open(postgres.New(postgres.Config{Conn: e.sqlDB}), &gorm.Config{Logger: logger.Discard})
	}
	plain, err := open()
	if err != nil {
		return nil, err
	}
	sealed, err := open()
	if err != nil {
		return nil, err
	}
	if err := sealed.Use(gormplugin.New(e.enc)); err != nil {
		return nil, err
	}
	if err := plain.AutoMigrate(&gormPlain{}, &gormPlainSel{}); err != nil {
		return nil, err
	}
	if err := gormplugin.AutoMigrate(sealed, &gormSealed{}, &gormSealedSel{}); err != nil {
		return nil, err
	}

	// Seed the select tables: gormBatch rows per tenant.
	for ti, t := range e.tenants {
		ps := make([]gormPlainSel, gormBatch)
		ss := make([]gormSealedSel, gormBatch)
		for i := range ps {
			n, m := fieldValues(int64(ti*gormBatch + i))
			ps[i] = gormPlainSel{TenantID: t, Name: n, Email: m}
			ss[i] = gormSealedSel{TenantID: t, Name: n, Email: m}
		}
		if err := plain.WithContext(ctx).Create(&ps).Error; err != nil {
			return nil, err
		}
		if err := sealed.WithContext(ctx).Create(&ss).Error; err != nil {
			return nil, err
		}
	}
	if err := e.exec(ctx, "VACUUM ANALYZE bench_gorm_plain_sel", "VACUUM ANALYZE bench_gorm_sealed_sel"); err != nil {
		return nil, err
	}

	truncate := func(table string) func(context.Context) error {
		return func(ctx context.Context) error { return e.exec(ctx, "TRUNCATE "+table) }
	}
	tenantOf := func(i int64) string { return e.tenants[int(i%int64(len(e.tenants)))] }
	insertNote := fmt.Sprintf("Create of %d rows of one tenant per statement", gormBatch)
	selectNote := fmt.Sprintf("Find of a tenant's %d rows", gormBatch)
	return []*dbVariant{
		{
			scenario: "gorm insert", variant: "plaintext (text columns)", plaintext: true, note: insertNote,
			workers: cfg.workers, prepare: truncate("bench_gorm_plain"),
			op: func(ctx context.Context, _ int, i int64) (int, error) {
				t := tenantOf(i)
				rows := make([]gormPlain, gormBatch)
				for j := range rows {
					n, m := fieldValues(i*gormBatch + int64(j))
					rows[j] = gormPlain{TenantID: t, Name: n, Email: m}
				}
				return len(rows), plain.WithContext(ctx).Create(&rows).Error
			},
		},
		{
			scenario: "gorm insert", variant: "colcrypt gormplugin (2 sealed columns)", note: insertNote,
			workers: cfg.workers, prepare: truncate("bench_gorm_sealed"),
			op: func(ctx context.Context, _ int, i int64) (int, error) {
				t := tenantOf(i)
				rows := make([]gormSealed, gormBatch)
				for j := range rows {
					n, m := fieldValues(i*gormBatch + int64(j))
					rows[j] = gormSealed{TenantID: t, Name: n, Email: m}
				}
				return len(rows), sealed.WithContext(ctx).Create(&rows).Error
			},
		},
		{
			scenario: "gorm select", variant: "plaintext (text columns)", plaintext: true, note: selectNote,
			workers: cfg.workers,
			op: func(ctx context.Context, _ int, i int64) (int, error) {
				t := tenantOf(i)
				var rows []gormPlainSel
				err := plain.WithContext(field.WithTenant(ctx, t)).Where("tenant_id = ?", t).Find(&rows).Error
				return len(rows), checkRows(err, len(rows))
			},
		},
		{
			scenario: "gorm select", variant: "colcrypt gormplugin (2 sealed columns)", note: selectNote,
			workers: cfg.workers,
			op: func(ctx context.Context, _ int, i int64) (int, error) {
				t := tenantOf(i)
				var rows []gormSealedSel
				err := sealed.WithContext(field.WithTenant(ctx, t)).Where("tenant_id = ?", t).Find(&rows).Error
				if err == nil && len(rows) > 0 && len(rows[0].Email) == 0 {
					err = fmt.Errorf("row of %s read back without its email", t)
				}
				return len(rows), checkRows(err, len(rows))
			},
		},
	}, nil
}

func checkRows(err error, n int) error {
	if err == nil && n != gormBatch {
		return fmt.Errorf("read %d rows, want %d", n, gormBatch)
	}
	return err
}
