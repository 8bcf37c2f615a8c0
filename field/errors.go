package field

import "github.com/colcrypt/colcrypt/internal/fieldcore"

// The errors callers branch on, with errors.Is. Each error that carries
// detail (the column, the struct field) matches one of them and says
// which in its message, never a value or a key.
var (
	// ErrNoTenant is returned when neither the row, the context nor the
	// Encryptor names a tenant.
	ErrNoTenant = fieldcore.ErrNoTenant
	// ErrTenantMismatch is returned when a row's tenant differs from the
	// tenant in the context.
	ErrTenantMismatch = fieldcore.ErrTenantMismatch
	// ErrNotEncrypted is returned by Open for a column value that is not a
	// colcrypt value (plaintext left from before a migration, say); the
	// error's message names the table and column.
	ErrNotEncrypted = fieldcore.ErrNotEncrypted
	// ErrNull is returned for a NULL read from, or a nil value written to,
	// a column tagged notnull. NULL is never encrypted, so without notnull
	// anyone who can write the database can erase a value by setting it to
	// NULL and the application reads an absent value.
	ErrNull = fieldcore.ErrNull
	// ErrNoRowKey is returned when a value of a bound column is sealed or
	// opened without its row key: the bound field is empty or zero, or
	// was not read. colcrypt never falls back to an unbound seal.
	ErrNoRowKey = fieldcore.ErrNoRowKey
	// ErrRowKeyType is returned for a bound field of a type that is not a
	// row key: string, []byte, a 16-byte array (a UUID), an integer, or a
	// pointer to one of them.
	ErrRowKeyType = fieldcore.ErrRowKeyType
	// ErrDecode is returned when decrypted bytes do not decode into the
	// destination's Go type (a column written as another type, say).
	ErrDecode = fieldcore.ErrDecode
	// ErrIndexParts is returned when a named index is computed or
	// matched with a number of values other than its number of parts.
	ErrIndexParts = fieldcore.ErrIndexParts
)

// TagError is a colcrypt struct tag (or a sqltypes tag) that does not
// parse: it names the field, the tag, and what is wrong with it. The GORM
// plugin reports it inside a *gormplugin.ModelError.
type TagError = fieldcore.TagError
