package gormplugin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// TestMisuse pins the errors for models colcrypt cannot encrypt as
// tagged: reported by AutoMigrate and by the model's first statement,
// naming the field, before any value reaches the database.
func TestMisuse(t *testing.T) {
	isModel := func(err error) bool { return errors.Is(err, gormplugin.ErrModel) }
	forEachDialect(t, func(t *testing.T, d dialect) {
		e := newEnv(t, d, envOptions{})
		for _, c := range []struct {
			name  string
			model any
			// check reports whether err is the expected AutoMigrate error;
			// nil means AutoMigrate must succeed.
			check   func(err error) bool
			mention string // the error names this
			// columnOnly: a column check, strict dialects only.
			columnOnly bool
			// mysqlOnly: a check MySQL alone needs.
			mysqlOnly bool
		}{
			{"UnsupportedType", &BadType{}, func(err error) bool {
				var ut *fieldcore.UnsupportedTypeError
				return isModel(err) && errors.As(err, &ut) && ut.Field == "BadType.Ratio"
			}, "Ratio", false, false},
			{"BlindIndexWithoutField", &BadNoBidxField{}, isModel, "email_bidx", false, false},
			{"TagWithoutSerializer", &BadNoSerializer{}, isModel, "serializer:colcrypt", false, false},
			{"BadTag", &BadTag{}, func(err error) bool {
				var te *fieldcore.TagError
				return isModel(err) && errors.As(err, &te)
			}, "sparkly", false, false},
			{"EncryptedDefault", &BadDefault{}, isModel, "default", false, false},
			{"TextColumnWithoutArmor", &BadTextColumn{}, func(err error) bool { return errors.Is(err, gormplugin.ErrColumnType) }, "not valid UTF-8", true, false},
			{"ColumnTooShort", &BadShortColumn{}, func(err error) bool { return errors.Is(err, gormplugin.ErrColumnType) }, "too short", true, false},
			{"VarcharLongEnough", &GoodVarcharColumn{}, nil, "", false, false},
			{"TenantCharacterColumn", &BadTenantColumn{}, func(err error) bool {
				var me *gormplugin.ModelError
				return errors.Is(err, gormplugin.ErrColumnType) && isModel(err) && errors.As(err, &me) &&
					me.Field == "TenantID" && strings.Contains(err.Error(), ".tenant_id")
			}, "VARBINARY", true, true},
			{"TenantSizedColumn", &GoodTenantSized{}, nil, "", false, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := gormplugin.AutoMigrate(e.db, c.model)
				wantErr := c.check != nil && (!c.columnOnly || d.name != "sqlite") && (!c.mysqlOnly || d.name == "mysql")
				switch {
				case !wantErr && err != nil:
					t.Fatalf("AutoMigrate(%T) = %v, want nil", c.model, err)
				case wantErr && (err == nil || !c.check(err) || !strings.Contains(err.Error(), c.mention)):
					t.Fatalf("AutoMigrate(%T) = %v, want the error naming %q", c.model, err, c.mention)
				}
				if !wantErr || c.columnOnly {
					return
				}
				// The model's first statement fails the same way, before SQL.
				err = e.db.WithContext(ctxFor("acme")).Create(c.model).Error
				if err == nil || !c.check(err) {
					t.Fatalf("Create(%T) = %v, want the model error", c.model, err)
				}
			})
		}

		t.Run("TenantSizedType", func(t *testing.T) {
			if d.name != "mysql" {
				return
			}
			cols, err := e.db.Migrator().ColumnTypes(&GoodTenantSized{})
			if err != nil {
				t.Fatalf("ColumnTypes(GoodTenantSized) = %v", err)
			}
			for _, c := range cols {
				if c.Name() != "tenant_id" {
					continue
				}
				n, _ := c.Length()
				if got := strings.ToLower(c.DatabaseTypeName()); got != "varbinary" || n != 64 {
					t.Fatalf("tenant_id is %s(%d), want varbinary(64)", got, n)
				}
				return
			}
			t.Fatalf("ColumnTypes(GoodTenantSized) has no tenant_id")
		})

		t.Run("VarcharRoundTrip", func(t *testing.T) {
			ctx := ctxFor("acme")
			in := GoodVarcharColumn{Name: "Ann"}
			if err := e.db.WithContext(ctx).Create(&in).Error; err != nil {
				t.Fatalf("Create = %v", err)
			}
			var out GoodVarcharColumn
			if err := e.db.WithContext(ctx).First(&out, in.ID).Error; err != nil || out.Name != "Ann" {
				t.Fatalf("First = %q, %v; want Ann", out.Name, err)
			}
		})
	})
}

func TestNotRegistered(t *testing.T) {
	e := newEnv(t, dialects[1], envOptions{noUse: true})
	if err := gormplugin.AutoMigrate(e.db, &Memo{}); !errors.Is(err, gormplugin.ErrNoPlugin) {
		t.Fatalf("AutoMigrate without db.Use = %v, want ErrNoPlugin", err)
	}
	type Plain struct {
		ID   uint
		Body string
	}
	var ms []Plain
	if err := e.db.Scopes(gormplugin.Match(context.Background(), "Body", "x")).Find(&ms).Error; !errors.Is(err, gormplugin.ErrNoPlugin) {
		t.Fatalf("Match without db.Use = %v, want ErrNoPlugin", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	db, err := gorm.Open(dialects[1].open(t), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Use(gormplugin.New(nil)); err == nil {
		t.Fatalf("Use(New(nil)) = nil, want an error")
	}
	enc := newEnv(t, dialects[1], envOptions{noUse: true}).enc
	if err := db.Use(gormplugin.New(enc, gormplugin.WithSerializerName("a;b"))); err == nil {
		t.Fatalf("Use(New(WithSerializerName(a;b))) = nil, want an error")
	}
}
