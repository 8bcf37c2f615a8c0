package sqltypes

import (
	"context"
	"errors"

	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Row binding (see field's package doc and docs/TAGGING.md): a column
// created with WithTag("bind") seals each value with its row's key in the
// associated data, so a value copied into another row of the same tenant
// fails to open. Every Seal, Value, Open and Scan of such a column goes
// through Row, which names the row:
//
//	ssn := sqltypes.NewColumn[string](enc, "patients", "ssn", sqltypes.WithTag("bind"))
//	db.Exec(`INSERT INTO patients (id, tenant_id, ssn) VALUES ($1, $2, $3)`,
//		id, t, ssn.Row(id).Value(ctx, t, "123-45-6789"))
//	rows.Scan(&id, ssn.Row(&id).Scan(ctx, t, &p.SSN)) // id selected before ssn

// errBatchBound: SealBatch seals many rows' values with one call, which
// has no row key per value.
var errBatchBound = errors.New("sqltypes: SealBatch cannot seal a bound column: seal each row with Row(key).Seal, or use ParallelSeal with Row(key).Value")

// Row returns the column for the row whose key is key (see
// [fieldcore.RowKey]: a string, []byte, 16-byte UUID or integer). key may be a
// pointer, read when the value is sealed or scanned: pass the address the
// row's key column is scanned into, listed before this column in the
// SELECT. An empty or zero key fails with [field.ErrNoRowKey].
//
// Row panics on a column created without WithTag("bind"): a programmer error,
// which the first test run shows.
func (c *Column[T]) Row(key any) *Column[T] {
	if !c.bindRow {
		panic("sqltypes: Row on " + c.table + "." + c.column + ", a column created without WithTag(\"bind\")")
	}
	rc := *c
	rc.row = key
	return &rc
}

// rowKey returns the row key the column's values are bound to.
func (c *Column[T]) rowKey() (string, error) {
	key, err := fieldcore.RowKey(c.row)
	if err != nil {
		return "", &fieldcore.RowKeyError{Table: c.table, Column: c.column, Err: err}
	}
	return key, nil
}

// seal is field.Encryptor's seal, bound to the row if the column is.
func (c *Column[T]) seal(ctx context.Context, tenant string, pt []byte) ([]byte, error) {
	if !c.bindRow {
		return c.enc.Seal(ctx, c.scope(tenant), c.mode, pt)
	}
	key, err := c.rowKey()
	if err != nil {
		return nil, err
	}
	return c.enc.SealRow(ctx, c.scope(tenant), c.mode, key, pt)
}

// open is field.Encryptor's open, bound to the row if the column is.
func (c *Column[T]) open(ctx context.Context, tenant string, dst, stored []byte) ([]byte, error) {
	if !c.bindRow {
		return c.enc.AppendOpen(ctx, dst, c.scope(tenant), stored)
	}
	key, err := c.rowKey()
	if err != nil {
		return nil, err
	}
	return c.enc.OpenRow(ctx, c.scope(tenant), key, stored)
}

// sealRowWith is sealWith for a bound column.
func (c *Column[T]) sealRowWith(ctx context.Context, h *fieldcore.Handle, dst, pt []byte) ([]byte, error) {
	key, err := c.rowKey()
	if err != nil {
		return nil, err
	}
	return h.SealRow(ctx, c.mode, key, dst, pt)
}
