// Package sqltypes encrypts columns for applications that use database/sql
// or pgx directly, without GORM: a [Column] is bound to a
// [field.Encryptor], a table and a column, and hands out a
// [database/sql/driver.Valuer] for each value written and a
// [database/sql.Scanner] for each value read.
//
//	ssn := sqltypes.NewColumn[string](enc, "patients", "ssn")
//	_, err := pool.Exec(ctx, `INSERT INTO patients (tenant_id, ssn) VALUES ($1, $2)`,
//		tenant, ssn.Value(ctx, tenant, "123-45-6789"))
//	err = pool.QueryRow(ctx, `SELECT ssn FROM patients WHERE id = $1`, id).
//		Scan(ssn.Scan(ctx, tenant, &out))
//
// The same values work with database/sql (the pgx "pgx" driver, modernc's
// "sqlite", any driver that takes []byte and string) and with native pgx:
// Exec, Query, QueryRow, SendBatch and CopyFrom, in every
// [pgx.QueryExecMode].
//
// # Column types
//
// A column stores the binary value (bytea, BLOB) by default; with armor
// ([WithTag]("armor")) it stores the text armor (text, varchar), for a column that is encrypted
// in place without a schema change. A pgx bytea parameter is sent in the
// binary format, an armored one as text. Scan accepts both forms whatever
// the option, so a column can move from one to the other.
//
// # Value types
//
// T is any type of field's plaintext encoding (package field, "Plaintext
// encoding"): string, []byte, the integer and float types, bool,
// time.Time, and any JSON-marshalable type.
// Every integration of colcrypt shares that encoding, so a value written
// here reads back through gormplugin and migrate, and the reverse.
//
// # NULL
//
// NULL follows pgx: a nil pointer T (NewColumn[*string]) and a nil []byte
// are SQL NULL, stored as NULL and never encrypted; scanning NULL sets a
// pointer, slice or map T to nil. database/sql's Null types
// (NewColumn[sql.NullString], NewColumn[sql.Null[int64]], sql.NullTime
// and the rest) are nullable the same way: Valid=false is stored as NULL,
// NULL scans as Valid=false, and a valid value is sealed exactly as its
// bare inner value, so a column can move between string and
// sql.NullString without re-encrypting. Scanning NULL into any other T
// (string, int64, a struct) is an error matching [field.ErrNull]: declare the
// column with a pointer or Null type if it can hold NULL. (A nil slice or
// map of another type is JSON, and is sealed as the JSON null, as every
// colcrypt integration does.)
//
// # Tenants
//
// Every call takes the row's tenant. An empty tenant falls back to the
// context's tenant ([field.WithTenant]) and then to the Encryptor's fixed
// tenant; a tenant that differs from the context's is
// [field.ErrTenantMismatch]. A ciphertext copied to another tenant's row, or
// to another column, fails to open with [codec.ErrAuth]. For a query over
// several tenants, [Column.ScanTenant] reads the tenant from the row being
// scanned.
//
// # Row binding
//
// A column created with WithTag("bind") binds each value to its row as well:
// [Column.Row] names the row's key (a UUID or natural key known before
// the insert), or points at where the key is scanned, and the value opens
// in that row only; a copy in another row of the same tenant is
// [codec.ErrAuth]. Without a key every call is [field.ErrNoRowKey].
//
// # Errors
//
// Every error names the column ("sqltypes: open patients.ssn: ...") and is
// a [*ColumnError] that unwraps to its cause, so errors.Is works for
// [codec.ErrAuth], keystore.ErrKeyDestroyed, [field.ErrNotEncrypted],
// [field.ErrNoTenant] and [field.ErrTenantMismatch]. An error from
// driver.Valuer.Value is returned by the Exec or Query that used it (pgx's
// CopyFrom keeps only its text; [ParallelSeal] keeps the value). Nothing in
// this package panics on data, and no error carries plaintext.
//
// # Connection pools
//
// Open the key store (keystore.New) on a *sql.DB of its own, not on the
// pool or *sql.DB your queries use. A Scan may ask the key store for a key
// while the query's rows still hold their connection, and a Valuer may
// inside a transaction; on a cache miss the key store needs a connection
// too, and on one bounded pool enough concurrent misses wait for each
// other until their deadlines. gormplugin refuses that set-up
// (gormplugin.ErrSharedPool); this package cannot see which pool a query
// runs on, so here it is the application's to keep them apart.
//
// # Bulk loads
//
// pgx's CopyFrom takes the Valuers as they are. For large loads, where the
// per-value key lookup shows: [Column.SealBatch] seals the values of one
// tenant on every CPU with one key lookup and returns the stored bytes;
// [ParallelSeal] wraps a streaming CopyFromSource so that its Valuers are
// sealed, a batch at a time, while pgx sends the rows before them.
// [Column.Seal] returns one value's stored bytes for other tools.
//
// # Allocations
//
// Scanning a value allocates only what the destination keeps: the string
// (built once, from a pooled buffer that is cleared after), the []byte,
// nothing for a number, bool or time.Time. An armored value adds its
// dearmored bytes. A Scanner can be built once for a query and reused for
// every row, as the destination it writes to is:
//
//	var name string
//	dst := []any{&id, nameCol.Scan(ctx, tenant, &name)}
//	for rows.Next() {
//		if err := rows.Scan(dst...); err != nil { ... }
//		people = append(people, Person{ID: id, Name: name})
//	}
//
// Then a SELECT of encrypted string columns allocates one more object a
// value than the same SELECT of plaintext text columns through
// database/sql, and as many through native pgx.
//
// [pgx.QueryExecMode]: https://pkg.go.dev/github.com/jackc/pgx/v5#QueryExecMode
package sqltypes
