// Package field is the engine an application holds: an [Encryptor] seals
// and opens column values for a [Scope] (tenant, table, column) with keys
// from a [keystore.Store], and the struct-tag grammar that every
// integration (sqltypes, gormplugin, migrate) shares.
//
// # Tenants
//
// Every value belongs to a tenant, and the tenant is part of the value's
// associated data. The tenant of a row is the authority: a Scope with a
// Tenant uses it; a Scope without one takes the tenant from the context
// ([WithTenant]) or, for a single-tenant application, the Encryptor's
// fixed tenant ([WithFixedTenant]). A row tenant that differs from the
// context's tenant is [ErrTenantMismatch]: a request for one customer never
// reads or writes another's data by accident.
//
// # Modes
//
// Randomized (the default) hides everything but length. Deterministic
// ([Deterministic]) gives equal values for equal plaintexts, so a column
// can be matched with SQL equality; a blind index ([Spec.BlindIndex]) keeps
// the value randomized and stores a keyed hash beside it for lookups. Both
// leak equality within a tenant and column; see SECURITY.md.
//
// # Row binding
//
// Tenant, table and column are always bound. A column may also bind each
// value to its row (tag bind:<Field>, [Spec.Bind]): the row key, the value
// of another field of the row as [RowKey] encodes it, joins the value's
// associated data ([Encryptor.SealRow], [Encryptor.OpenRow]), so a value
// copied into another row of the same tenant and column fails to open.
// The key must be known before the insert (a UUID or natural key, never
// a database-generated id), and a missing key is [ErrNoRowKey], never an
// unbound seal.
//
// # Handles and key sources
//
// An integration that seals or opens many values of one column holds a
// [Handle] ([Encryptor.Handle]): the tenant's ciphers for that column,
// looked up once per key version, with the rules about keys (destroyed
// keys, row binding, bulk nonces) inside it. The Encryptor takes its keys
// from a [Keys], three lookups of ciphers that *keystore.Store answers
// from its indexes and a test can answer from a raw key (package
// fieldtest).
//
// # Errors
//
// A value that fails to open returns an error matching [codec.ErrAuth],
// whatever the cause — tamper, wrong tenant, wrong column, unknown key
// version, another row of a bound fieldcore. A value whose key was shredded returns
// [keystore.ErrKeyDestroyed]. A column value that is not a colcrypt value
// at all returns [ErrNotEncrypted] naming the fieldcore.
package field
