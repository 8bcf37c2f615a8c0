package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/colcrypt/colcrypt/field"
)

// Kind is what a job does to a column.
type Kind string

const (
	// Encrypt seals plaintext values, in place or into ToColumn.
	Encrypt Kind = "encrypt"
	// Reencrypt re-seals values under the tenant's active key version,
	// skipping values already on it: the data half of a key rotation.
	Reencrypt Kind = "reencrypt"
	// Decrypt opens values back to plaintext, in place or into ToColumn:
	// the way out of colcrypt.
	Decrypt Kind = "decrypt"
	// Reindex writes the blind index (Job.BlindIndex) of every encrypted
	// value of Column into the index column, skipping rows whose index is
	// already right, and leaves the value as it is: moving an index from
	// the data key to the index key in place (indexkey:migrating), and
	// filling a new index column during an index key rotation
	// (docs/ROTATING.md).
	Reindex Kind = "reindex"
	// Index writes the named indexes (Job.Indexes) of rows whose columns
	// are already encrypted into their index columns, decrypting the
	// parts, skipping rows whose indexes are already right, and leaves
	// the values as they are: adding an index to an encrypted column
	// later. Column and Also name the encrypted columns the parts may
	// read; Column must be a part of every index.
	Index Kind = "index"

	// kindVerify plans a read-only scan (Verify).
	kindVerify Kind = "verify"
)

// Job describes one migration of one column. It is what the checkpoint
// records: a rerun with the same ID must describe the same work.
type Job struct {
	// ID names the job in the checkpoint table. Default: derived from the
	// kind, table and columns ("encrypt:users.email->email_enc").
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Table is the table, optionally "schema.table".
	Table string `json:"table"`
	// Column is the column read: plaintext for Encrypt, ciphertext for
	// Reencrypt and Decrypt.
	Column string `json:"column"`
	// ToColumn is the column written; empty means in place. The column
	// must exist (add it first). Reencrypt is always in place.
	ToColumn string `json:"to_column,omitempty"`
	// PK is the column that pages the table: any unique, orderable
	// column. Default: the table's single-column primary key.
	PK string `json:"pk,omitempty"`
	// TenantColumn holds each row's tenant; Tenant is one fixed tenant for
	// every row. At most one may be set; with neither, the Encryptor's
	// fixed tenant (field.WithFixedTenant) is used.
	TenantColumn string `json:"tenant_column,omitempty"`
	Tenant       string `json:"tenant,omitempty"`
	// Mode is the encryption mode of Encrypt. Reencrypt keeps each value's
	// own mode.
	Mode field.Mode `json:"mode"`
	// BlindIndex, if set, is filled in the same write as the value
	// (Encrypt, Reencrypt) and checked by Verify.
	BlindIndex *field.BlindIndex `json:"-"`
	// Indexes are named indexes (GORM's index:<name>,parts:…, sqltypes'
	// NewIndex) filled in the same write as the value by Encrypt, filled
	// over encrypted columns by Index, and checked by Verify. Each part
	// names a column of the table (see JobIndex); the job's first column
	// must be a part of each.
	Indexes []JobIndex `json:"-"`
	// Armor writes text armor even into a binary column. Text columns
	// always get armor: binary ciphertext is not valid text.
	Armor bool `json:"armor,omitempty"`
	// ScopeTable and ScopeColumn are the table and column names bound into
	// each value's associated data: the names the application uses when
	// it reads the column. Defaults: Table (without a schema) and the
	// column that holds the ciphertext (ToColumn for Encrypt into a new
	// column, Column otherwise).
	ScopeTable  string `json:"scope_table,omitempty"`
	ScopeColumn string `json:"scope_column,omitempty"`
	// BindColumn, if set, binds each value to its row: the column's value
	// (a UUID or natural key; the key column itself is allowed) is the row
	// key in the value's associated data, as a `colcrypt:"bind:<Field>"`
	// tag or sqltypes.WithTag("bind") does, so the application must read the
	// column bound to the same field. Postgres reads a column that is not
	// text or bytea (uuid, integer) in its text form, MySQL and SQLite
	// integers in decimal: the forms a bound Go UUID or
	// integer field. A row whose key is NULL or empty fails and is left
	// as it is.
	BindColumn string `json:"bind_column,omitempty"`
	// Also lists more columns of the table to migrate in the same pass
	// over its rows, with this job's kind, tenant, key and mode (see
	// ColumnPair). Counts other than rows scanned then count values.
	Also []ColumnPair `json:"also,omitempty"`
}

// defaultID is the job id used when Job.ID is empty.
func (j Job) defaultID() string {
	id := string(j.Kind) + ":" + j.Table + "." + j.Column
	if j.ToColumn != "" && j.ToColumn != j.Column {
		id += "->" + j.ToColumn
	}
	for _, c := range j.Also {
		id += "," + c.Column
		if c.ToColumn != "" && c.ToColumn != c.Column {
			id += "->" + c.ToColumn
		}
	}
	if j.Kind == Index {
		// Two indexes added to one column are two jobs.
		for i, x := range j.Indexes {
			sep := ","
			if i == 0 {
				sep = "=>"
			}
			id += sep + x.Column
		}
	}
	return id
}

// specJSON is the job's persisted description: everything that changes
// what the job writes. Two runs of one job id must agree on it.
func (j Job) specJSON() string {
	type bidx struct {
		Column      string   `json:"column"`
		Length      int      `json:"length"`
		Normalizers []string `json:"normalizers,omitempty"`
		Name        string   `json:"name,omitempty"`
		Keying      string   `json:"keying,omitempty"`
		// Bits only when it is not Length*8, so that the jobs recorded
		// before lengths in bits keep their description.
		Bits int `json:"bits,omitempty"`
	}
	s := struct {
		Job
		BlindIndex *bidx       `json:"blind_index,omitempty"`
		Indexes    []indexSpec `json:"indexes,omitempty"`
	}{Job: j, Indexes: j.indexSpecs()}
	if j.BlindIndex != nil {
		b := j.BlindIndex
		s.BlindIndex = &bidx{Column: b.Column, Length: b.Length, Normalizers: b.Normalizers}
		// Only what differs from the defaults, so that the description of
		// a job written before index keys and lengths in bits stays the
		// same.
		if b.Name != "" && b.Name != b.Column {
			s.BlindIndex.Name = b.Name
		}
		// IndexAuto writes what IndexStable writes: a migration only
		// writes, so the two are one job.
		if b.Keying != field.IndexStable && b.Keying != field.IndexAuto {
			s.BlindIndex.Keying = b.Keying.String()
		}
		if b.Bits != 0 && b.Bits != b.Length*8 {
			s.BlindIndex.Bits = b.Bits
		}
	}
	b, _ := json.Marshal(s) // plain strings and ints: cannot fail
	return string(b)
}

// normalize fills defaults and checks the combination of fields.
func (j Job) normalize() (Job, error) {
	switch j.Kind {
	case Encrypt, Reencrypt, Decrypt, Reindex, Index, kindVerify:
	default:
		return j, fmt.Errorf("%w: unknown job kind %q (encrypt, reencrypt, decrypt, reindex, index)", ErrInvalidJob, j.Kind)
	}
	if j.Kind == Reindex && j.BlindIndex == nil {
		return j, fmt.Errorf("%w: reindex needs a blind index", ErrInvalidJob)
	}
	if j.Kind == Reindex && len(j.Also) > 0 {
		return j, fmt.Errorf("%w: reindex works on one column; drop Also", ErrInvalidJob)
	}
	if j.Table == "" || j.Column == "" {
		return j, fmt.Errorf("%w: a job needs a table and a column", ErrInvalidJob)
	}
	if j.ToColumn == j.Column {
		j.ToColumn = ""
	}
	if (j.Kind == Reencrypt || j.Kind == Reindex || j.Kind == Index || j.Kind == kindVerify) && j.ToColumn != "" {
		return j, fmt.Errorf("%w: %s works on one column; drop ToColumn", ErrInvalidJob, j.Kind)
	}
	if j.TenantColumn != "" && j.Tenant != "" {
		return j, fmt.Errorf("%w: give a tenant column or a fixed tenant, not both", ErrInvalidJob)
	}
	if j.BindColumn != "" && slices.Contains([]string{j.Column, j.ToColumn, j.TenantColumn}, j.BindColumn) {
		return j, fmt.Errorf("%w: bind column %q is also the migrated, target or tenant column", ErrInvalidJob, j.BindColumn)
	}
	if j.Kind == Decrypt && j.BlindIndex != nil {
		return j, fmt.Errorf("%w: decrypt does not write a blind index", ErrInvalidJob)
	}
	if j.BlindIndex != nil {
		if j.BlindIndex.Length == 0 {
			b, err := field.NewBlindIndex(j.BlindIndex.Column, 0, j.BlindIndex.Normalizers...)
			if err != nil {
				return j, fmt.Errorf("%w: %w", ErrInvalidJob, err)
			}
			b.Name, b.Keying = j.BlindIndex.Name, j.BlindIndex.Keying
			j.BlindIndex = b
		}
		if slices.Contains([]string{j.Column, j.ToColumn, j.PK, j.TenantColumn, j.BindColumn}, j.BlindIndex.Column) {
			return j, fmt.Errorf("%w: blind index column %q is also another role's column", ErrInvalidJob, j.BlindIndex.Column)
		}
	}
	if err := j.checkIndexes(); err != nil {
		return j, err
	}
	if j.ScopeTable == "" {
		j.ScopeTable = j.Table
		if _, t, ok := strings.Cut(j.Table, "."); ok {
			j.ScopeTable = t
		}
	}
	if j.ScopeColumn == "" {
		j.ScopeColumn = j.Column
		if j.Kind == Encrypt && j.ToColumn != "" {
			j.ScopeColumn = j.ToColumn
		}
	}
	if j.ID == "" {
		j.ID = j.defaultID()
	}
	return j, nil
}

// testHookPlan, if set by a test, sees every plan newPlan makes: to take
// the compare-and-set on values on a Postgres table (p.byVersion false),
// the path of views and foreign tables.
var testHookPlan func(*plan)

// plan is a job resolved against the catalog: the columns' types and the
// SQL built from them.
type plan struct {
	job   Job
	d     dialect
	table string // quoted
	ti    *tableInfo
	// ident identifies the table itself (tableIdent), "" if unknown.
	ident string
	// dstMax is dst's declared length (0: unbounded), see preflight.
	dstMax int64
	// also are the plans of Job.Also's columns.
	also    []*plan
	pk      column
	src     column
	dst     column // == src in place
	inPlace bool
	tenant  *column
	bidx    *column
	bind    *column // Job.BindColumn
	// parts are the columns read for named indexes' parts, beside src;
	// nidx are the named indexes (Job.Indexes).
	parts []partCol
	nidx  []planIndex
	// armor: sealed values are written as text armor (Encrypt and
	// Reencrypt into a text column, or with Job.Armor).
	armor bool
	// dstText: dst is not a binary column, so what is written must be
	// text (armor, or decrypted plaintext that is valid UTF-8).
	dstText bool
	// byVersion: the compare-and-set is on the row version read, not on
	// the values (Postgres heap tables, see postgres_version.go).
	byVersion bool
}

// newPlan checks job against the catalog.
func newPlan(ctx context.Context, d dialect, q querier, job Job) (*plan, error) {
	ti, err := d.describe(ctx, q, job.Table)
	if err != nil {
		return nil, err
	}
	p := &plan{job: job, d: d, table: quoteTable(d, job.Table), ti: ti}
	if p.pk, err = keyColumn(ctx, d, q, ti, job.PK); err != nil {
		return nil, err
	}
	if p.src, err = ti.column(job.Column, "source"); err != nil {
		return nil, err
	}
	p.dst, p.inPlace = p.src, true
	if job.ToColumn != "" {
		if p.dst, err = ti.column(job.ToColumn, "target"); err != nil {
			return nil, err
		}
		p.inPlace = false
	}
	if pg, ok := d.(postgres); ok {
		if p.byVersion, err = pg.versioned(ctx, q, job.Table); err != nil {
			return nil, err
		}
	}
	if p.src.Name == p.pk.Name || p.dst.Name == p.pk.Name {
		return nil, fmt.Errorf("%w: the key column %q cannot be migrated", ErrInvalidJob, p.pk.Name)
	}
	if job.TenantColumn != "" {
		c, err := ti.column(job.TenantColumn, "tenant")
		if err != nil {
			return nil, err
		}
		p.tenant = &c
	}
	if job.BindColumn != "" {
		c, err := ti.column(job.BindColumn, "bind")
		if err != nil {
			return nil, err
		}
		p.bind = &c
	}
	if job.BlindIndex != nil {
		c, err := ti.column(job.BlindIndex.Column, "blind index")
		if err != nil {
			return nil, err
		}
		if c.class != classBytes {
			return nil, fmt.Errorf("%w: blind index column %s.%s is %s (%s); it needs a binary type (bytea, BLOB)", errUnsupportedColumn, ti.Name, c.Name, c.class, c.Type)
		}
		p.bidx = &c
	}

	if err := p.planIndexes(); err != nil {
		return nil, err
	}
	if testHookPlan != nil {
		testHookPlan(p)
	}

	// What the ciphertext column can hold decides the representation.
	p.dstText = p.dst.class != classBytes
	switch job.Kind {
	case Encrypt:
		switch p.dst.class {
		case classText:
			p.armor = true
		case classBytes:
			p.armor = job.Armor
		default:
			return nil, fmt.Errorf("%w: %s.%s is %s: it cannot hold ciphertext; add a bytea/BLOB or text column and pass it as the target (--to-column)", errUnsupportedColumn, ti.Name, p.dst.Name, p.dst.Type)
		}
	case Reencrypt, Reindex, Index:
		switch p.src.class {
		case classText:
			p.armor = true
		case classBytes:
			p.armor = job.Armor
		default:
			return nil, fmt.Errorf("%w: %s.%s is %s: it cannot hold ciphertext", errUnsupportedColumn, ti.Name, p.src.Name, p.src.Type)
		}
	case Decrypt:
		if p.src.class == classOther {
			return nil, fmt.Errorf("%w: %s.%s is %s: it cannot hold ciphertext", errUnsupportedColumn, ti.Name, p.src.Name, p.src.Type)
		}
	}
	return p, nil
}

// readCols are the columns a batch reads after the key, in scan order;
// the bind column, if any, comes after them.
func (p *plan) readCols() (src, dst, tenant, bidx *column) {
	src = &p.src
	if !p.inPlace {
		dst = &p.dst
	}
	// Verify reads the blind index to check it, Reindex to skip a row
	// whose index is right; the other migrations overwrite it.
	if p.job.Kind == kindVerify || p.job.Kind == Reindex {
		bidx = p.bidx
	}
	return src, dst, p.tenant, bidx
}

// scope is the associated-data scope of row values for tenant.
func (p *plan) scope(tenant string) field.Scope {
	return field.Scope{Tenant: tenant, Table: p.job.ScopeTable, Column: p.job.ScopeColumn}
}
