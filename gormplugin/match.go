package gormplugin

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
)

// Match returns a GORM scope that finds the rows whose field name
// (the Go field name or the column) equals the one value given, for the tenant in ctx
// (or the fixed tenant):
//
//	db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&ps)
//
// The field must be deterministic (WHERE col IN (...)) or have a blind
// index (WHERE bidx_col IN (...)). A blind index under the tenant's index
// key (the default) is one value, which data-key rotations do not change.
// For a deterministic field, or a blind index tagged indexkey:legacy, the
// list holds the value's form under every live data key version of the
// tenant, newest first, because a row keeps the form of the version it
// was written under until it is rewritten; indexkey:migrating sends both.
// So a match keeps working across a key rotation. A blind index applies
// its normalizers to value first. When the model has a tenant field the rows
// are limited to the tenant too.
//
// name may also be the name of a named index (a []byte field tagged
// index:<name>): values are then its parts' values, one per part in the
// order of its parts: tag, and the rows whose index equals theirs match:
//
//	db.Scopes(gormplugin.Match(ctx, "ssn_zip", "123-45-6789", "94110")).Find(&ps)
//
// A short blind index (bidxlen, bits) matches some other values as well,
// by design: compare the decrypted fields before trusting a match.
// Equality is all Match can do; both modes reveal which rows are equal to
// anyone who reads the table.
func Match(ctx context.Context, name string, values ...any) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		conds, err := matchAny(ctx, db, name, values)
		if err != nil {
			db.AddError(err)
			return db
		}
		return db.Where(clause.And(conds...))
	}
}

// matchAny is Match by an index name, else by a field.
func matchAny(ctx context.Context, db *gorm.DB, name string, values []any) ([]clause.Expression, error) {
	if p, m, x := indexOf(db, name); x != nil {
		if m.err != nil {
			return nil, m.err
		}
		return indexConds(ctx, p, m, x, values)
	}
	if len(values) != 1 {
		return nil, fmt.Errorf("%w: Match(%q) of a field takes one value, got %d", ErrNotMatchable, name, len(values))
	}
	return matchConds(ctx, db, name, values[0])
}

// indexOf finds the named index name of the statement's model, if any.
func indexOf(db *gorm.DB, name string) (*plugin, *model, *idxField) {
	stmt := db.Statement
	if stmt.Schema == nil {
		target := stmt.Model
		if target == nil {
			target = stmt.Dest
		}
		if target == nil || stmt.Parse(target) != nil {
			return nil, nil, nil // matchConds reports it
		}
	}
	for _, p := range plugins(db) {
		m := p.reg.model(stmt.Schema)
		if x := m.byIndex[name]; x != nil {
			return p, m, x
		}
	}
	return nil, nil, nil
}

func matchConds(ctx context.Context, db *gorm.DB, fieldName string, value any) ([]clause.Expression, error) {
	stmt := db.Statement
	if len(plugins(db)) == 0 {
		return nil, ErrNoPlugin
	}
	if stmt.Schema == nil {
		target := stmt.Model
		if target == nil {
			target = stmt.Dest
		}
		if target == nil {
			return nil, fmt.Errorf("gormplugin: Match(%q): no model: use db.Model(&T{}) or Find(&[]T{})", fieldName)
		}
		if err := stmt.Parse(target); err != nil {
			return nil, fmt.Errorf("gormplugin: Match(%q): %w", fieldName, err)
		}
	}
	f := stmt.Schema.LookUpField(fieldName)
	if f == nil {
		return nil, fmt.Errorf("gormplugin: Match: %s has no field %q", stmt.Schema.Name, fieldName)
	}
	ser, ok := f.Serializer.(serializer)
	if !ok || ser.reg == nil {
		return nil, fmt.Errorf("%w: %s.%s is not encrypted: use Where", ErrNotMatchable, stmt.Schema.Name, f.Name)
	}
	p, err := pluginOf(db, ser.reg)
	if err != nil {
		return nil, err
	}
	m := ser.reg.model(stmt.Schema)
	if m.err != nil {
		return nil, m.err
	}
	ef := m.byField[f]
	tenant, err := p.enc.ResolveTenant(ctx, "")
	if err != nil {
		return nil, ef.errorf("match", err)
	}
	var conds []clause.Expression
	if m.tenant != nil {
		conds = append(conds, clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: m.tenant.DBName}, Value: tenant})
	}
	pt, ok, err := encode(value)
	if err != nil {
		return nil, ef.errorf("match", err)
	}
	column := ef.column
	var candidates [][]byte
	switch {
	case ef.bidx != nil:
		column = ef.bidx.DBName
		if ok {
			candidates, err = p.enc.IndexLookupValues(ctx, ef.scope(tenant), ef.spec.BlindIndex, pt)
		}
	case ef.spec.Mode == field.Deterministic && ef.bound != nil:
		return nil, ef.errorf("match", fmt.Errorf("%w: its values are bound to their rows (bind:%s), so equal values differ; give it a blind index", ErrNotMatchable, ef.bound.Name))
	case ef.spec.Mode == field.Deterministic:
		if ok {
			candidates, err = p.enc.DeterministicCandidates(ctx, ef.scope(tenant), pt)
		}
	default:
		return nil, ef.errorf("match", fmt.Errorf("%w: it is randomized and has no blind index (tag it deterministic or blindindex:<column>)", ErrNotMatchable))
	}
	if err != nil {
		return nil, ef.errorf("match", err)
	}
	col := clause.Column{Table: clause.CurrentTable, Name: column}
	if !ok {
		return append(conds, matched{clause.Eq{Column: col, Value: nil}, tenant}), nil // IS NULL
	}
	values := make([]any, len(candidates))
	for i, c := range candidates {
		if ef.bidx == nil && ef.spec.Armor {
			values[i] = string(codec.Armor(nil, c))
		} else {
			values[i] = c
		}
	}
	// No candidates (a tenant without keys) builds IN (NULL): no row.
	return append(conds, matched{clause.IN{Column: col, Values: values}, tenant}), nil
}
