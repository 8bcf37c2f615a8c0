package field

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/internal/fieldcore"
)

// Scope names where a value lives: tenant, table and column. An empty
// Tenant is resolved from the context ([WithTenant]) or the fixed tenant
// ([WithFixedTenant]).
type Scope = codec.Scope

// Encryptor seals and opens column values. It is safe for concurrent use;
// an application holds one and hands it to the integrations (sqltypes,
// gormplugin, migrate), which reach its column handles through the
// module's internal packages. Printed with fmt or encoded as JSON it
// shows nothing of its key source.
type Encryptor fieldcore.Engine

// Option configures an Encryptor.
type Option func(*fieldcore.Config)

// WithFixedTenant makes every value without a row or context tenant belong
// to tenant: the setting for a single-tenant application.
func WithFixedTenant(tenant string) Option {
	return func(c *fieldcore.Config) { c.FixedTenant = tenant }
}

// WithMeterProvider makes the Encryptor count, through mp, the values it
// and the integrations built on it seal and open, by table and column
// (colcrypt.field.seals, colcrypt.field.opens), and the seals and opens
// that fail, by operation and error kind (colcrypt.field.errors); see
// docs/OPERATING.md. Without it nothing is counted at all, not even
// through the global provider: counting has a cost on the hot path,
// which an application that reads no metrics should not pay.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *fieldcore.Config) { c.MeterProvider = mp }
}

// WithTenantMetrics adds the tenant as attribute colcrypt.tenant to the
// counts of WithMeterProvider. Off by default: with many tenants it
// multiplies the number of time series, which metric backends bill and
// cap.
func WithTenantMetrics() Option {
	return func(c *fieldcore.Config) { c.TenantMetrics = true }
}

// NewEncryptor returns an Encryptor over keys.
func NewEncryptor(keys Keys, opts ...Option) *Encryptor {
	var cfg fieldcore.Config
	for _, o := range opts {
		o(&cfg)
	}
	return (*Encryptor)(fieldcore.New(keys, cfg))
}

func (e *Encryptor) engine() *fieldcore.Engine { return (*fieldcore.Engine)(e) }

// Seal encrypts plaintext for s with randomized AES-256-GCM under the
// tenant's active key, and returns the stored value.
func (e *Encryptor) Seal(ctx context.Context, s Scope, plaintext []byte) ([]byte, error) {
	return e.engine().Seal(ctx, s, Randomized, plaintext)
}

// SealDeterministic encrypts plaintext for s with AES-SIV under the
// tenant's active key: equal plaintexts give equal values while the key
// version stays the same.
func (e *Encryptor) SealDeterministic(ctx context.Context, s Scope, plaintext []byte) ([]byte, error) {
	return e.engine().Seal(ctx, s, Deterministic, plaintext)
}

// Open authenticates and decrypts a stored value of s, binary or
// text-armored, with whichever of the tenant's key versions sealed it.
//
// Errors: ErrNotEncrypted (naming the column) for a value that is no
// colcrypt value; codec.ErrAuth for every way a value fails to
// authenticate, an unknown key version included; keystore.ErrKeyDestroyed
// for a shredded tenant; KMS errors, which kms.IsRetryable classifies.
func (e *Encryptor) Open(ctx context.Context, s Scope, value []byte) ([]byte, error) {
	return e.engine().AppendOpen(ctx, nil, s, value)
}

// AppendOpen is Open appending the plaintext to dst, for readers that
// decode the plaintext and drop it (a string built from it, a number
// parsed from it): opened into a buffer they reuse, a value costs no
// allocation of its own. With dst nil it allocates exactly the plaintext,
// as Open does. On error dst's contents past len(dst) are undefined, and
// the caller should clear a reused buffer once it is done with it.
func (e *Encryptor) AppendOpen(ctx context.Context, dst []byte, s Scope, value []byte) ([]byte, error) {
	return e.engine().AppendOpen(ctx, dst, s, value)
}

// SealRow is Seal, in mode m, for a value of a bound column: row is the
// row key (see package doc, "Row binding") and joins the value's
// associated data, so the value opens only with OpenRow and the same key.
// An empty row is ErrNoRowKey; nothing is sealed.
func (e *Encryptor) SealRow(ctx context.Context, s Scope, m Mode, row string, plaintext []byte) ([]byte, error) {
	return e.engine().SealRow(ctx, s, m, row, plaintext)
}

// OpenRow is Open for a value of a bound column, sealed with the row key
// row. Errors are Open's; a value sealed for another row, or unbound, is
// codec.ErrAuth like every other value that does not authenticate. An
// empty row is ErrNoRowKey.
func (e *Encryptor) OpenRow(ctx context.Context, s Scope, row string, value []byte) ([]byte, error) {
	return e.engine().OpenRow(ctx, s, row, value)
}

// BlindIndex computes the blind index of plaintext for the encrypted
// column s: the value to store in b's column beside a newly sealed value.
// It is taken under the tenant's index key (created on first use), or,
// for an index tagged indexkey:legacy, under its active data key; see
// [IndexKeying].
func (e *Encryptor) BlindIndex(ctx context.Context, s Scope, b *BlindIndex, plaintext []byte) ([]byte, error) {
	return e.engine().IndexValue(ctx, s, b, plaintext)
}

// BlindIndexCandidates returns the values an equality query on plaintext
// matches b's column against (WHERE bidx IN (...)): one, under the
// tenant's index key; for a legacy index one per live data key version,
// newest first; for a migrating one both. None for a tenant without keys.
func (e *Encryptor) BlindIndexCandidates(ctx context.Context, s Scope, b *BlindIndex, plaintext []byte) ([][]byte, error) {
	return e.engine().IndexLookupValues(ctx, s, b, plaintext)
}

// DeterministicCandidates returns the deterministic value of plaintext
// under every live key version of the tenant, newest first, for an
// equality query on a deterministic column (WHERE col IN (...)).
func (e *Encryptor) DeterministicCandidates(ctx context.Context, s Scope, plaintext []byte) ([][]byte, error) {
	return e.engine().DeterministicCandidates(ctx, s, plaintext)
}

// KeyVersion returns the key version a stored value (binary or armored)
// was sealed under, without opening it.
func KeyVersion(value []byte) (uint32, error) { return fieldcore.KeyVersion(value) }
