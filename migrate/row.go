package migrate

import (
	"bytes"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/colcrypt/colcrypt/field"
)

// cell is one scanned column value: its bytes for the cryptography, and
// the driver's own value for a compare-and-set that must match exactly
// what was read (SQLite keeps a value's storage class).
type cell struct {
	orig  any
	b     []byte
	valid bool
}

var _ sql.Scanner = (*cell)(nil)

// Scan copies src: drivers may reuse their buffers after the next Next.
// Non-text values become their text form, the way field encodes
// plaintext scalars.
func (c *cell) Scan(src any) error {
	*c = cell{valid: src != nil}
	switch v := src.(type) {
	case nil:
	case []byte:
		c.b = bytes.Clone(v)
		if c.b == nil {
			c.b = []byte{}
		}
		c.orig = c.b
	case string:
		c.b, c.orig = []byte(v), v
	case int64:
		c.b, c.orig = strconv.AppendInt(nil, v, 10), v
	case float64:
		c.b, c.orig = strconv.AppendFloat(nil, v, 'g', -1, 64), v
	case bool:
		c.b, c.orig = strconv.AppendBool(nil, v), v
	case time.Time:
		c.b, c.orig = []byte(v.Format(time.RFC3339Nano)), v
	default:
		return fmt.Errorf("migrate: cannot read a column value of type %T", src)
	}
	return nil
}

// row is one row of a batch.
type row struct {
	pk     any        // as the dialect binds it back
	pkText string     // for reports
	ver    rowVersion // with plan.byVersion
	seq    int        // the row's place in the read that returned it
	src    cell
	dst    cell // ToColumn, when not in place
	tenant cell
	bidx   cell // Verify only
	bind   cell // the row key, with Job.BindColumn
	// parts are plan.parts' cells; nidx the named indexes' current
	// values (plan.nidx).
	parts []cell
	nidx  []cell
}

// write is one compare-and-set update: set the target to val (and the
// blind index to bidx) if the row still holds what r holds.
type write struct {
	r    *row
	val  []byte
	bidx []byte
	// nidx are the named indexes' values (plan.nidx), nil for NULL.
	nidx [][]byte
}

// scanRows reads a batch's rows in the column order of p.readCols; n is
// how many rows are expected (room is made for them up front: a row is a
// large value to copy while a slice grows).
func scanRows(d dialect, p *plan, rows *sql.Rows, n int) ([]row, error) {
	defer rows.Close()
	_, dst, tenant, bidx := p.readCols()
	out := make([]row, 0, n)
	for rows.Next() {
		r := row{seq: len(out)}
		pk := d.scanPK()
		dest := []any{pk}
		if p.byVersion {
			dest = append(dest, &r.ver.rel, &r.ver.xmin)
		}
		dest = append(dest, &r.src)
		if dst != nil {
			dest = append(dest, &r.dst)
		}
		if tenant != nil {
			dest = append(dest, &r.tenant)
		}
		if bidx != nil {
			dest = append(dest, &r.bidx)
		}
		if p.bind != nil {
			dest = append(dest, &r.bind)
		}
		dest = p.extraDest(dest, &r)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", p.ti.Name, err)
		}
		r.pk, r.pkText = d.pkValue(pk)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", p.ti.Name, err)
	}
	return out, nil
}

// rowKey returns the row key of r for a job with a bind column, "" for
// one without. A NULL or empty key is field.ErrNoRowKey: the row fails,
// and is never sealed unbound.
func (w *worker) rowKey(r *row) (string, error) {
	if w.p.bind == nil {
		return "", nil
	}
	if !r.bind.valid || len(r.bind.b) == 0 {
		return "", field.ErrNoRowKey
	}
	return string(r.bind.b), nil
}
