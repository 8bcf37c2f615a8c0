package gormplugin

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
)

// AutoMigrate is db.AutoMigrate(models...) for models with encrypted
// fields. Use it instead of db.AutoMigrate, which cannot know that a
// string field holds ciphertext. It:
//
//  1. checks each model's colcrypt tags and field types (a *ModelError
//     naming the field);
//  2. gives each encrypted field without a `gorm:"type:..."` a column
//     type that holds ciphertext: bytea (Postgres), blob (SQLite),
//     longblob (MySQL), or text / longtext with colcrypt:"armor"; blind
//     index fields get bytea / blob / varbinary(n); on MySQL the tenant
//     field gets varbinary (see below);
//  3. creates the key table (keystore.CreateTable, in db's dialect)
//     unless the plugin was built WithoutKeyTable;
//  4. runs db.AutoMigrate(models...);
//  5. reads the columns back and returns a *ModelError matching ErrColumnType
//     for one that cannot hold its field's values: a text or varchar
//     column for binary ciphertext on Postgres or MySQL (its bytes are not
//     valid UTF-8; use a binary type or colcrypt:"armor"), or a
//     length-limited column shorter than the ciphertext of the field's
//     `gorm:"size:n"` plaintext bytes (1 byte if no size is given); on
//     MySQL, also a tenant column of a character type.
//
// On MySQL and MariaDB the tenant column must be binary (VARBINARY or
// BLOB), because updates of encrypted columns and Match are limited to a
// tenant's rows by tenant_id = ?, and a character column compares under
// its collation: a case-insensitive one (the default) makes "Acme" match
// "acme", and every PAD SPACE one (utf8mb4_bin too) makes "acme " match
// "acme", so a request for one tenant would overwrite another's values
// with ciphertext under the wrong key. A tenant
// field without a type: tag gets VARBINARY of its `gorm:"size:n"`, or of
// 1024 bytes (the key table's own limit), which InnoDB can still index.
//
// Column types are set on GORM's cached schema of db, so run AutoMigrate
// at start-up, before the models are used concurrently. A db.Use of the
// plugin must come first.
//
// Why a function and not a hook in db.AutoMigrate: GORM runs no callback
// around migrations, and its migrator takes column types from the
// Dialector it was built with, so the only hook would be a wrapper around
// db.Dialector, which would hide the optional interfaces GORM finds on
// the real one by type assertion (savepoints, error translation).
func AutoMigrate(db *gorm.DB, models ...any) error {
	ps := plugins(db)
	if len(ps) == 0 {
		return ErrNoPlugin
	}
	// An unknown GORM dialect is 0: column types are left to GORM's
	// generic ones, and the key table (which needs a known one) fails.
	dialect, _ := sqldialect.Parse(db.Dialector.Name())
	type checked struct {
		model any
		m     *model
	}
	var all []checked
	for _, mdl := range models {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(mdl); err != nil {
			return fmt.Errorf("gormplugin: AutoMigrate: %w", err)
		}
		for _, p := range ps {
			m := p.reg.model(stmt.Schema)
			if m.err != nil {
				return m.err
			}
			setColumnTypes(m, dialect)
			all = append(all, checked{mdl, m})
		}
	}

	ctx := db.Statement.Context
	for _, p := range ps {
		if p.keyTable == "" {
			continue
		}
		sqlDB, err := db.DB()
		if err != nil {
			return fmt.Errorf("gormplugin: AutoMigrate: key table: %w", err)
		}
		if err := keystore.CreateTable(ctx, sqlDB, keystore.WithDialect(db.Dialector.Name()), keystore.WithTable(p.keyTable)); err != nil {
			return fmt.Errorf("gormplugin: AutoMigrate: %w", err)
		}
	}

	if err := db.AutoMigrate(models...); err != nil {
		return err
	}

	var errs []error
	for _, c := range all {
		if len(c.m.fields) == 0 && (c.m.tenant == nil || dialect != sqldialect.MySQL) {
			continue
		}
		cols, err := db.Migrator().ColumnTypes(c.model)
		if err != nil {
			return fmt.Errorf("gormplugin: AutoMigrate: read columns of %s: %w", c.m.schema.Table, err)
		}
		byName := make(map[string]gorm.ColumnType, len(cols))
		for _, ct := range cols {
			byName[strings.ToLower(ct.Name())] = ct
		}
		if c.m.tenant != nil {
			if ct, ok := byName[strings.ToLower(c.m.tenant.DBName)]; ok {
				errs = append(errs, checkTenantColumn(dialect, c.m, ct))
			}
		}
		for _, ef := range c.m.fields {
			if ct, ok := byName[strings.ToLower(ef.column)]; ok {
				errs = append(errs, checkColumn(dialect, ef, ct))
			}
			if ef.bidx != nil {
				if ct, ok := byName[strings.ToLower(ef.bidx.DBName)]; ok {
					errs = append(errs, checkBidxColumn(dialect, ef, ct))
				}
			}
		}
		for _, x := range c.m.indexes {
			if ct, ok := byName[strings.ToLower(x.f.DBName)]; ok {
				errs = append(errs, checkIndexColumn(dialect, x, ct))
			}
		}
	}
	return errors.Join(errs...)
}

// columnTypes says what column type holds ciphertext, per GORM dialect.
var columnTypes = map[sqldialect.Dialect]struct{ binary, text string }{
	sqldialect.Postgres: {"bytea", "text"},
	sqldialect.SQLite:   {"blob", "text"},
	sqldialect.MySQL:    {"longblob", "longtext"},
}

// setColumnTypes sets the GORM data type of the encrypted and blind index
// fields, and on MySQL of the tenant field, that have no type: tag. GORM
// gives a serializer field the type of its Go kind (text for a string,
// bigint for an int), which cannot hold ciphertext, and a string the
// MySQL type longtext, which compares under a collation (see
// AutoMigrate); the tag is the user's word and is checked instead.
func setColumnTypes(m *model, dialect sqldialect.Dialect) {
	if t := m.tenant; t != nil && dialect == sqldialect.MySQL {
		if _, typed := t.TagSettings["TYPE"]; !typed {
			n := sqldialect.MaxTenantLen
			if _, sized := t.TagSettings["SIZE"]; sized && t.Size > 0 && t.Size < n {
				n = t.Size
			}
			if want := schema.DataType("varbinary(" + strconv.Itoa(n) + ")"); t.DataType != want {
				t.DataType = want
			}
		}
	}
	types, known := columnTypes[dialect]
	for _, x := range m.indexes {
		setIndexType(x.f, dialect, x.ix.Len())
	}
	for _, ef := range m.fields {
		if _, typed := ef.f.TagSettings["TYPE"]; !typed {
			want := schema.DataType(types.binary)
			switch {
			case !known && ef.spec.Armor:
				want = schema.String
			case !known:
				want = schema.Bytes
			case ef.spec.Armor:
				want = schema.DataType(types.text)
			}
			if ef.f.DataType != want {
				ef.f.DataType = want
			}
		}
		if ef.bidx == nil {
			continue
		}
		setIndexType(ef.bidx, dialect, ef.spec.BlindIndex.Length)
	}
}

// setIndexType gives the index column f of n-byte values a binary type,
// unless its tag has one.
func setIndexType(f *schema.Field, dialect sqldialect.Dialect, n int) {
	if _, typed := f.TagSettings["TYPE"]; typed {
		return
	}
	want := schema.Bytes
	switch dialect {
	case sqldialect.Postgres:
		want = "bytea"
	case sqldialect.SQLite:
		want = "blob"
	case sqldialect.MySQL:
		// An indexed BLOB needs a prefix length in MySQL.
		want = schema.DataType("varbinary(" + strconv.Itoa(n) + ")")
	}
	if f.DataType != want {
		f.DataType = want
	}
}

// strictTypes reports whether the dialect's text columns refuse bytes that
// are not valid in their character set and its declared lengths are
// enforced. SQLite stores whatever it is given.
func strictTypes(dialect sqldialect.Dialect) bool {
	return dialect == sqldialect.Postgres || dialect == sqldialect.MySQL
}

func isTextType(t string) bool {
	return strings.Contains(t, "char") || strings.Contains(t, "text") || strings.Contains(t, "clob") || strings.Contains(t, "json")
}

func isBinaryType(t string) bool {
	return strings.Contains(t, "bytea") || strings.Contains(t, "blob") || strings.Contains(t, "binary")
}

// maxVersionMargin is the key version the size check assumes: a 3-byte
// version in the header, room for two million rotations.
const maxVersionMargin = 1 << 14

// storedSize is the size of the stored form of a plaintext of n bytes.
func storedSize(ef *encField, n int) int {
	alg := codec.AESGCM
	if ef.spec.Mode == field.Deterministic {
		alg = codec.AESSIV
	}
	size := codec.Overhead(alg, maxVersionMargin) + n
	if ef.spec.Armor {
		size = len(codec.ArmorPrefix) + base64.RawStdEncoding.EncodedLen(size)
	}
	return size
}

func checkColumn(dialect sqldialect.Dialect, ef *encField, ct gorm.ColumnType) error {
	typ := strings.ToLower(ct.DatabaseTypeName())
	fail := func(format string, args ...any) error {
		return &ModelError{Model: ef.m.name, Field: ef.f.Name, Err: &columnTypeError{ef.table, ef.column, columnTypeString(ct), fmt.Sprintf(format, args...)}}
	}
	if !strictTypes(dialect) {
		return nil
	}
	switch {
	case isTextType(typ) && !ef.spec.Armor:
		return fail("a text column cannot hold binary ciphertext (its bytes are not valid UTF-8): drop the type: tag so AutoMigrate makes it %s, or tag the field colcrypt:\"armor\"", columnTypes[dialect].binary)
	case !isTextType(typ) && !isBinaryType(typ):
		return fail("neither a binary nor a text type")
	}
	plain := 1
	if ef.f.Size > 0 {
		if _, sized := ef.f.TagSettings["SIZE"]; sized {
			plain = ef.f.Size
		}
	}
	if n, ok := ct.Length(); ok && n > 0 && n < 1<<31-1 {
		if need := storedSize(ef, plain); int64(need) > n {
			return fail("too short: the ciphertext of %d plaintext bytes takes %d; widen the column, or drop the type: tag", plain, need)
		}
	}
	return nil
}

func checkBidxColumn(dialect sqldialect.Dialect, ef *encField, ct gorm.ColumnType) error {
	typ := strings.ToLower(ct.DatabaseTypeName())
	fail := func(format string, args ...any) error {
		return &ModelError{Model: ef.m.name, Field: ef.bidx.Name, Err: &columnTypeError{ef.table, ef.bidx.DBName, columnTypeString(ct), fmt.Sprintf(format, args...)}}
	}
	if !strictTypes(dialect) {
		return nil
	}
	if !isBinaryType(typ) {
		return fail("a blind index is binary: use a binary column type (bytea, varbinary)")
	}
	if n, ok := ct.Length(); ok && n > 0 && n < int64(ef.spec.BlindIndex.Length) {
		return fail("too short for a %d-byte blind index", ef.spec.BlindIndex.Length)
	}
	return nil
}

func checkIndexColumn(dialect sqldialect.Dialect, x *idxField, ct gorm.ColumnType) error {
	fail := func(format string, args ...any) error {
		return &ModelError{Model: x.m.name, Field: x.f.Name, Err: &columnTypeError{x.m.schema.Table, x.f.DBName, columnTypeString(ct), fmt.Sprintf(format, args...)}}
	}
	if !strictTypes(dialect) {
		return nil
	}
	if !isBinaryType(strings.ToLower(ct.DatabaseTypeName())) {
		return fail("an index is binary: use a binary column type (bytea, varbinary)")
	}
	if n, ok := ct.Length(); ok && n > 0 && n < int64(x.ix.Len()) {
		return fail("too short for a %d-byte index", x.ix.Len())
	}
	return nil
}

// checkTenantColumn refuses, on MySQL, a tenant column that compares
// under a collation (see AutoMigrate), and a BINARY(n) one, which pads
// the tenant with zero bytes so that it no longer equals the context's.
func checkTenantColumn(dialect sqldialect.Dialect, m *model, ct gorm.ColumnType) error {
	if dialect != sqldialect.MySQL {
		return nil
	}
	typ := strings.ToLower(ct.DatabaseTypeName())
	if strings.Contains(typ, "varbinary") || strings.Contains(typ, "blob") {
		return nil
	}
	return &ModelError{Model: m.name, Field: m.tenant.Name, Err: &columnTypeError{m.schema.Table, m.tenant.DBName, columnTypeString(ct),
		"a tenant column must be VARBINARY on MySQL: a character column compares under a collation (\"Acme\" = \"acme\", \"acme \" = \"acme\"), letting one tenant's statements reach another's rows, and BINARY pads with zero bytes; drop the type: tag so AutoMigrate makes it varbinary"}}
}

func columnTypeString(ct gorm.ColumnType) string {
	if t, ok := ct.ColumnType(); ok && t != "" {
		return t
	}
	return ct.DatabaseTypeName()
}
