package sqltypes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Scan returns a sql.Scanner that opens the column's value with the
// tenant's keys and stores it in *dst, for rows.Scan and pgx's Scan.
//
// The Scanner accepts the binary value ([]byte, as bytea and BLOB arrive)
// and the text armor (string or []byte, as text columns arrive), and NULL
// (see the package doc). It opens the value inside Scan and keeps no
// reference to the source, which the driver may reuse. On error *dst is
// left unchanged.
//
// Build the Scanner once per query and pass it to every rows.Scan: from
// its second value on it keeps the column's keys for its tenant (a
// fieldcore.Handle) and a plaintext buffer, so a row costs no tenant
// resolution or key-store lookup. It keeps them for as long as it lives,
// with the Handle's rules (a key destroyed meanwhile fails as the key
// store says), and is for one goroutine, like the destination it writes.
//
// A value that is not a colcrypt value is an error matching
// [field.ErrNotEncrypted], naming the column, unless the column has
// allowplaintext ([WithTag]). A value that fails to authenticate — tampered, or
// moved from another tenant's row or another column — is [codec.ErrAuth].
func (c *Column[T]) Scan(ctx context.Context, tenant string, dst *T) sql.Scanner {
	return &scanner[T]{col: c, ctx: ctx, tenant: tenant, dst: dst}
}

// ScanTenant is Scan for a query over several tenants: the tenant is read
// from *tenant when the value is scanned, so the SELECT must list the
// tenant column, scanned into *tenant, before this one. An empty *tenant
// falls back to the context's tenant, as in Scan.
//
//	rows.Scan(&tenant, ssn.ScanTenant(ctx, &tenant, &p.SSN))
func (c *Column[T]) ScanTenant(ctx context.Context, tenant *string, dst *T) sql.Scanner {
	return &scanner[T]{col: c, ctx: ctx, tenantPtr: tenant, dst: dst}
}

type scanner[T any] struct {
	col       *Column[T]
	ctx       context.Context
	tenant    string
	tenantPtr *string
	dst       *T
	// held is nil before the first value, scannedOnce after it, and the
	// held column from the second on (see hold). One word, so a Scanner
	// built for each row stays in the allocator's 64-byte class.
	held *heldColumn
}

// scannedOnce marks a Scanner that has scanned one value and holds
// nothing yet.
var scannedOnce = new(heldColumn)

// heldColumn is what a Scanner reused across rows keeps from one row to
// the next: a fieldcore.Handle for the column and the tenant it first read
// twice, so that each value skips the tenant resolution and the key
// store's cipher lookup (one lookup per key version for the whole loop,
// as a GORM statement makes), and a buffer of its own for the plaintext
// it decodes, cleared after every value as the pool's buffers are.
type heldColumn struct {
	tenant string // the row tenant h was made for, before resolution
	h      *fieldcore.Handle
	buf    []byte
}

// hold returns the Scanner's held column for tenant, or nil: the first
// value of a Scanner takes the Encryptor's path, so a Scanner built for
// one row allocates nothing more; the second makes the handle, for the
// rest of the loop. A tenant other than the held one (ScanTenant over
// several tenants), a bound column, or a tenant that does not resolve
// takes the Encryptor's path, which reports the error.
//
// The handle keeps the ciphers it opened with for as long as the Scanner
// lives, with the Handle's rules: a key destroyed meanwhile (Shred) is
// looked up again and fails as the key store says. A Scanner is for one
// query, used by one goroutine, like the destination it writes.
func (s *scanner[T]) hold(tenant string) *heldColumn {
	switch s.held {
	case nil:
		s.held = scannedOnce
		return nil
	case scannedOnce:
	default:
		if s.held.tenant == tenant {
			return s.held
		}
		return nil
	}
	if s.col.bindRow {
		return nil
	}
	h, err := s.col.enc.Handle(s.ctx, s.col.scope(tenant))
	if err != nil {
		return nil
	}
	s.held = &heldColumn{tenant: tenant, h: h}
	return s.held
}

var _ sql.Scanner = (*scanner[string])(nil)

// Scan implements sql.Scanner.
func (s *scanner[T]) Scan(src any) error {
	if s.dst == nil {
		return s.col.errorf("scan", fmt.Errorf("nil destination *%v", s.col.typ))
	}
	tenant := s.tenant
	if s.tenantPtr != nil {
		tenant = *s.tenantPtr
	}
	return s.col.scanInto(s.ctx, tenant, s.hold(tenant), src, s.dst)
}

// ScanBytes is pgx's pgtype.BytesScanner: pgx hands a bytea or text
// column's bytes over without copying them into a new slice first (Scan
// would get a copy). v is only valid during the call; nil is NULL. It
// goes straight to the open, without boxing v into Scan's any (an
// allocation per value).
func (s *scanner[T]) ScanBytes(v []byte) error {
	if v == nil {
		return s.Scan(nil)
	}
	if s.dst == nil {
		return s.col.errorf("scan", fmt.Errorf("nil destination *%v", s.col.typ))
	}
	tenant := s.tenant
	if s.tenantPtr != nil {
		tenant = *s.tenantPtr
	}
	return s.col.scanStored(s.ctx, tenant, s.hold(tenant), v, s.dst)
}

// String keeps the destination out of logs.
func (s *scanner[T]) String() string {
	return "sqltypes.Scan(" + s.col.table + "." + s.col.column + ")"
}

// scanInto opens src and stores the result in *dst, which it leaves
// unchanged on error; held is as for scanStored.
func (c *Column[T]) scanInto(ctx context.Context, tenant string, held *heldColumn, src any, dst *T) error {
	var stored []byte
	switch x := src.(type) {
	case nil:
		if !c.nullable || c.notNull {
			return c.errorf("open", &typeError{field.ErrNull, c.typ})
		}
		var zero T
		*dst = zero
		return nil
	case []byte:
		// Not copied: Open reads it and returns fresh plaintext; the
		// plaintext path below copies as it decodes.
		stored = x
	case string:
		stored = stringBytes(x) // only read, like the []byte above
	case int64, float64, bool, time.Time:
		// What a driver returns for a numeric, boolean or time column:
		// never a colcrypt value, but plaintext in a column being migrated.
		if !c.allowPlaintext {
			return c.errorf("open", &fieldcore.NotEncryptedError{Table: c.table, Column: c.column})
		}
		pt, _, err := fieldcore.EncodePlaintext(x)
		if err != nil {
			return c.errorf("open", err)
		}
		return c.decode(pt, dst)
	default:
		return c.errorf("open", fmt.Errorf("unsupported source type %T", src))
	}

	return c.scanStored(ctx, tenant, held, stored, dst)
}

// scanStored opens the stored bytes of a value (binary or armored, or
// plaintext with AllowPlaintext) into *dst, which it leaves unchanged on
// error. stored is only read. held, if not nil, is a reusing Scanner's
// handle and buffer (see scanner.hold).
//
// A []byte column opens straight into the slice *dst gets: one
// allocation, the plaintext the caller keeps. Every other type opens into
// a buffer, held's or a pooled one (plainbuf.go), cleared after, that
// decode reads from: a string is then built once, a number allocates
// nothing.
func (c *Column[T]) scanStored(ctx context.Context, tenant string, held *heldColumn, stored []byte, dst *T) error {
	if p, ok := any(dst).(*[]byte); ok {
		pt, err := c.openHeld(ctx, tenant, held, nil, stored)
		if err != nil {
			return c.openFailed(ctx, tenant, stored, dst, err)
		}
		if pt == nil {
			pt = []byte{} // an empty value, not NULL; costs no allocation
		}
		*p = pt
		return nil
	}
	if held != nil {
		pt, err := held.h.Open(ctx, held.buf[:0], stored)
		if err != nil {
			clear(held.buf[:cap(held.buf)]) // an open that failed part way may have written
			return c.openFailed(ctx, tenant, stored, dst, err)
		}
		err = c.decode(pt, dst)
		clear(pt)
		if cap(pt) <= maxPooledPlain {
			held.buf = pt // keep a buffer open grew
		}
		return err
	}
	buf := getPlainBuf()
	defer putPlainBuf(buf)
	pt, err := c.open(ctx, tenant, (*buf)[:0], stored)
	if err != nil {
		return c.openFailed(ctx, tenant, stored, dst, err)
	}
	*buf = pt // keep a buffer open grew, so the pool clears and reuses it
	return c.decode(pt, dst)
}

// openHeld opens stored through held's handle if there is one, else
// through the Encryptor.
func (c *Column[T]) openHeld(ctx context.Context, tenant string, held *heldColumn, dst, stored []byte) ([]byte, error) {
	if held != nil {
		return held.h.Open(ctx, dst, stored)
	}
	return c.open(ctx, tenant, dst, stored)
}

// openFailed handles an open's error: plaintext in a column with
// AllowPlaintext decodes as it is, anything else is the error.
func (c *Column[T]) openFailed(ctx context.Context, tenant string, stored []byte, dst *T, err error) error {
	if c.allowPlaintext && errors.Is(err, field.ErrNotEncrypted) {
		// field.Open says "not encrypted" only for a value that does
		// not start like one: a value that does and fails to
		// authenticate is codec.ErrAuth and never reaches this branch.
		// The tenant is still resolved, so a request for the wrong
		// tenant is refused the same way for plaintext rows.
		if _, terr := c.enc.ResolveTenant(ctx, tenant); terr != nil {
			return c.errorf("open", terr)
		}
		return c.decode(stored, dst)
	}
	return c.errorf("open", err)
}

// decode stores the plaintext in *dst, copying what it keeps: pt may be a
// pooled buffer or the driver's. A pointer T gets a new pointee for every
// row (like pgx) rather than overwriting the one the previous row left,
// and *dst changes only on success.
//
// The common types are decoded through a type switch on dst itself, not
// on a fresh T: a pointer to a local converted to any escapes, one more
// allocation per value.
func (c *Column[T]) decode(pt []byte, dst *T) error {
	switch p := any(dst).(type) {
	case *string:
		*p = string(pt)
		return nil
	case *[]byte:
		*p = append(make([]byte, 0, len(pt)), pt...)
		return nil
	case **string:
		s := string(pt)
		*p = &s
		return nil
	case *int64:
		v, err := strconv.ParseInt(string(pt), 10, 64)
		if err != nil {
			return c.errorf("open", &typeError{ErrDecode, c.typ})
		}
		*p = v
		return nil
	case *int:
		v, err := strconv.ParseInt(string(pt), 10, strconv.IntSize)
		if err != nil {
			return c.errorf("open", &typeError{ErrDecode, c.typ})
		}
		*p = int(v)
		return nil
	case *bool:
		v, err := strconv.ParseBool(string(pt))
		if err != nil {
			return c.errorf("open", &typeError{ErrDecode, c.typ})
		}
		*p = v
		return nil
	case *float64:
		v, err := strconv.ParseFloat(string(pt), 64)
		if err != nil {
			return c.errorf("open", &typeError{ErrDecode, c.typ})
		}
		*p = v
		return nil
	case *time.Time:
		v, err := time.Parse(time.RFC3339Nano, string(pt))
		if err != nil {
			return c.errorf("open", &typeError{ErrDecode, c.typ})
		}
		*p = v
		return nil
	}
	if c.null {
		return c.decodeNull(pt, dst)
	}
	var fresh T
	if err := fieldcore.DecodePlaintext(pt, &fresh); err != nil {
		return c.errorf("open", &typeError{ErrDecode, c.typ})
	}
	*dst = fresh
	return nil
}
