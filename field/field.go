// Package field is the engine an application holds: an [Encryptor] seals
// and opens column values for a [Scope] (tenant, table, column) with keys
// from a [keystore.Store] (or any [Keys]), and is what every integration
// (sqltypes, gormplugin, migrate) takes.
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
// can be matched with SQL equality; a blind index ([NewBlindIndex]) keeps
// the value randomized and stores a keyed hash beside it for lookups. Both
// leak equality within a tenant and column; see SECURITY.md.
//
// # Row binding
//
// Tenant, table and column are always bound. A column may also bind each
// value to its row (tag bind:<Field>, [Spec].Bind): the row key, the
// value of another field of the row, joins the value's associated data
// ([Encryptor.SealRow], [Encryptor.OpenRow]), so a value copied into
// another row of the same tenant and column fails to open. The key must
// be known before the insert (a UUID or natural key, never a
// database-generated id), and a missing key is [ErrNoRowKey], never an
// unbound seal. The integrations take the key from a field of type
// string, []byte, integer or a 16-byte array (a UUID, as lower-case
// hyphenated text, the form Postgres gives a uuid column), so that a
// migration reading the column and GORM reading the struct agree; any
// other type is [ErrRowKeyType].
//
// # Plaintext encoding
//
// The integrations turn a Go value into the bytes they seal by one rule:
// strings and []byte as they are, integers in decimal, floats in
// strconv's shortest form, true/false, time.Time in RFC 3339 with
// nanoseconds, and any other type (one that is not a channel, function,
// complex number or bare interface) as JSON. Text forms, because a column
// decrypted back to plaintext (the way out of colcrypt) should hold what
// the application would have written there, and a deterministic column
// needs one encoding per value. Bytes that do not decode into the
// destination type are [ErrDecode], without the bytes.
//
// # Key sources
//
// The Encryptor takes its keys from a [Keys], three lookups of ciphers
// that *keystore.Store answers from its indexes and a test can answer
// from a raw key (package fieldtest). The integrations seal and open many
// values of a column through one column handle each (the tenant's ciphers
// for that column, looked up once per key version), which the module
// keeps internal: the rules about keys (destroyed keys, row binding, bulk
// nonces) live there and in the Encryptor, nowhere else.
//
// # Metrics
//
// With [WithMeterProvider] the Encryptor counts, through OpenTelemetry,
// the values it and the integrations seal and open, by table and column,
// and the failures by kind (docs/OPERATING.md lists the instruments);
// the tenant joins the attributes only with [WithTenantMetrics]. Without
// a meter provider it counts nothing. No value, key or row key is ever an
// attribute.
//
// # Errors
//
// A value that fails to open returns an error matching [codec.ErrAuth],
// whatever the cause — tamper, wrong tenant, wrong column, unknown key
// version, another row of a bound column. A value whose key was shredded
// returns [keystore.ErrKeyDestroyed]. A column value that is not a
// colcrypt value at all returns [ErrNotEncrypted] naming the column. A
// malformed colcrypt struct tag or an unsupported field type is reported
// by the integration that reads the model, naming the struct field.
package field
