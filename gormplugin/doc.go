// Package gormplugin encrypts tagged struct fields transparently in GORM
// (gorm.io/gorm v1.31): install the plugin once ([New]), tag the fields, and
// keep writing GORM.
//
//	kek, _ := kms.Open(ctx, "gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii")
//	keyDB, _ := sql.Open("pgx", dsn) // the key store's own pool, not GORM's
//	keys, _ := keystore.New(keyDB, kek)
//	err := db.Use(gormplugin.New(field.NewEncryptor(keys)))
//
//	type Patient struct {
//		ID        uint
//		TenantID  string `colcrypt:"tenant"`
//		Name      string `gorm:"serializer:colcrypt"`
//		Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
//		EmailBidx []byte `gorm:"index"`
//		SSN       string `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
//	}
//
//	err := gormplugin.AutoMigrate(db, &Patient{}) // bytea columns, the key table
//	ctx = field.WithTenant(ctx, "acme")
//	db.WithContext(ctx).Create(&p)
//	db.WithContext(ctx).Scopes(gormplugin.Match(ctx, "Email", "ann@example.com")).Find(&ps)
//
// A field with `gorm:"serializer:colcrypt"` is sealed when GORM writes it
// and opened when GORM reads it; its `colcrypt:"..."` tag says how (see
// docs/TAGGING.md: deterministic, blindindex:<column>, normalize,
// bidxlen, bits, armor, allowplaintext). Any type of field's plaintext encoding
// (package field, "Plaintext encoding") works: strings, []byte, numbers,
// bool, time.Time, pointers to them (nil is NULL), database/sql's Null
// types (sql.Null[T], sql.NullString, ...: Valid=false is NULL, a valid
// value is sealed as its inner value), and JSON-marshalable types. The
// struct keeps its
// plaintext: the plugin never writes ciphertext into a field.
//
// # Tenants
//
// Every value is sealed under its tenant's data key. A row's tenant is
// its field tagged `colcrypt:"tenant"` (a string); if that is empty, the
// tenant in the context ([field.WithTenant], given with
// db.WithContext(ctx)); else the Encryptor's fixed tenant
// ([field.WithFixedTenant]). A row whose tenant differs from the context's
// is an error ([field.ErrTenantMismatch]); no tenant at all is
// [field.ErrNoTenant]. Create fills an empty tenant field with the tenant
// it used, so the row says which key opens it.
//
// GORM sets a row's fields in the order of the SELECT's columns, so the
// tenant column can come after an encrypted one (SELECT *, with the
// tenant field declared last, or Select("email", "tenant_id")). Find,
// First, Take, Joins and Preload handle that: a value read before its
// row's tenant waits until the tenant is set, then opens. Raw(...).Scan,
// Rows and ScanRows parse their destination after every callback, so
// there the context's tenant must be set or the tenant column must come
// first; otherwise the error says so ([ErrTenantOrder], or
// [field.ErrNoTenant] with a hint). Values are never left silently zero.
//
// # Writes
//
// Create, CreateInBatches, Save, Updates (with a struct or a map whose
// keys are field or column names), Update and UpdateColumn(s) all seal,
// and fill blind index columns from the plaintext (the blind index field
// must exist, as []byte). For Create, each row's tenant's key is fetched
// (or created, which calls the KMS) before GORM begins the statement's
// own transaction, so a slow KMS holds no database connection, and the
// rows are sealed after the BeforeSave/BeforeCreate hooks, before any SQL
// is sent: a KMS failure fails the statement and, in db.Transaction,
// rolls the transaction back. (Inside db.Transaction, or CreateInBatches
// of several batches, the transaction has already begun.) An update that writes an encrypted column
// is limited to the resolved tenant's rows (AND tenant_id = ?), and one
// statement never writes a value for several tenants ([ErrManyTenants]).
//
// Under a tenant in the context, every write on a model with a tenant
// field is limited to that tenant, whichever columns it sets: Delete in
// all its forms, Update, Updates, UpdateColumn(s), Save's UPDATE, and the
// upsert Save falls back to when its UPDATE finds no row, which may only
// update a conflicting row of the tenant (ON CONFLICT ... DO UPDATE ...
// WHERE on Postgres and SQLite, IF(tenant <=> ?, ...) on MySQL) and fails
// with [field.ErrTenantMismatch] when the row with that key is another
// tenant's, leaving it as it was. A row, a condition (tenant_id = ?, IN,
// a map or struct condition) or an assignment naming another tenant fails
// with [field.ErrTenantMismatch] before any SQL is sent; an empty tenant
// field, or an assignment of "" or nil to the tenant column, is filled
// with the context's tenant. An UPDATE or DELETE without any condition is
// left to fail with gorm.ErrMissingWhereClause rather than become "every
// row of the tenant". Without a tenant in the context, writes are not
// scoped: their own conditions decide, as in plain GORM. Exec and Raw are
// never rewritten.
// SQL expressions cannot be assigned to an encrypted column
// ([ErrUnsupported]), and an upsert's ON CONFLICT DO UPDATE sets an
// encrypted or index column only from the inserted row, which the plugin
// sealed (clause.AssignmentColumns, UpdateAll; ErrUnsupported otherwise), nor can an encrypted field have a `default:`, which
// GORM would insert as it is.
//
// # Row binding
//
// `colcrypt:"bind:ExternalID"` binds a field's values to their row: the
// value of the row's ExternalID field (a UUID or natural key the
// application sets before the insert, never a database-generated id)
// joins their associated data, so a value copied into another row of the
// same tenant fails to open with codec.ErrAuth. Writes read the key from
// the row, the map, or an update's SET clause, updating struct or model
// row; an update whose key comes from the model row is limited to the
// rows holding it. Reads wait for the bound field as they wait for the
// tenant. An empty key, or a read that does not select the bound column,
// is [field.ErrNoRowKey]. See docs/TAGGING.md.
//
// # Queries
//
// A randomized value cannot be compared in SQL. [Match] finds rows by
// equality on a deterministic or blind-indexed field for the tenant in
// the context; or by a named index, a []byte field tagged index:<name>
// over one or more encrypted fields with their transforms
// (parts:SSN/digits/last4+Zip), which every write that gives all of its
// parts fills, and which Match takes by its name and one value per part.
// The plugin also rewrites equality written the usual way, in queries,
// Row/Rows/Scan, updates and deletes, before GORM builds the SQL:
// Where("email = ?", x), First(&p, "email = ?", x), "email IN ?",
// Where(map...) and Where(&Patient{Email: x}) become the condition Match
// builds, so they find the same rows and never send the plaintext; with
// allowplaintext they also find the rows still in plaintext. Any other
// condition on an encrypted column (LIKE, <, BETWEEN, <>, NOT, a function
// of the column, ORDER BY or GROUP BY on it, equality on a randomized
// field, a text the plugin cannot read with certainty) fails with
// [ErrUnsearchable] before any SQL, as does a SELECT expression on one,
// and a condition on an encrypted column of a joined model. A lookup is
// limited to the tenant it was built for: run under another tenant's
// context, a chain is rewritten afresh, and a Match scope built for
// another tenant fails with [field.ErrTenantMismatch]. Conditions are read with a tokenizer,
// not an SQL parser, and the plugin errs towards refusing; IS [NOT] NULL
// is left as it is. See the Querying section of docs/TAGGING.md.
//
// A Find into maps opens the encrypted columns; a Pluck of one is
// refused ([ErrUnsupported]). Scan or Row into a non-struct (a []string)
// bypasses every serializer and would return the stored bytes: scan
// encrypted columns into a struct.
//
// # Migrations
//
// Use [AutoMigrate] instead of db.AutoMigrate: it creates the key table
// (keystore.CreateTable in the DB's dialect), gives encrypted fields a
// binary column type unless they say `gorm:"type:..."`, and reports a
// column that cannot hold ciphertext (a [*ModelError] matching
// [ErrColumnType]) when it runs,
// rather than on the first insert. Misused tags and unsupported field
// types are reported as a [*ModelError] naming the field, at AutoMigrate
// or at the model's first statement.
//
// # MySQL and MariaDB
//
// AutoMigrate gives encrypted fields longblob (longtext with armor),
// blind indexes VARBINARY of their length (MySQL indexes a BLOB only by a
// prefix), and the tenant field VARBINARY: a character column compares
// under its collation, and a case-insensitive or PAD SPACE one would let
// the tenant "Acme" or "acme " update and Match the rows of "acme". It
// refuses a tenant column typed as characters ([ErrColumnType]). Run the
// server with a strict sql_mode (the default), so that a value too long
// for its column is refused, not truncated.
//
// # Connection pools
//
// Give the key store a *sql.DB of its own (sql.Open again with the same
// DSN, a few connections), not the one under GORM. A GORM statement holds
// a connection (a write's transaction, a read's open rows) while the
// plugin asks the key store for a key; on a cache miss the key store
// needs a connection too. On one shared pool with a connection limit, as
// many concurrent misses as the limit wait for each other until their
// deadlines: 32 goroutines creating rows for new tenants in transactions
// over 4 connections all failed at their deadline. db.Use therefore
// refuses a key store on GORM's own *sql.DB, also behind GORM's
// prepared-statement pool, with [ErrSharedPool];
// a key store that is not a *keystore.Store, or a custom gorm.ConnPool
// that cannot name its *sql.DB, is not checked. With separate pools the
// same load finishes in well under a second (TestColdTenantsSmallPools),
// and the fault-injection tests (internal/faulttest) run 64 goroutines
// over 1,000 tenants this way.
//
// When a transaction fails and its rollback fails too (the context has
// expired), GORM keeps only the text of the plugin's error: errors.Is and
// kms.IsRetryable see through the error GORM returns in every other case.
//
// # SQLite
//
// Open the database file twice, for GORM and for the key store, in WAL
// mode with a busy timeout
// (?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)). The key store
// creates a new tenant's key through its own connection, and SQLite has
// one writer at a time, so inside a transaction that has already written,
// the first write for a new tenant waits for the busy timeout and fails:
// create tenants' keys (keystore.Store.Active) before such transactions,
// or open the key store on its own database file.
//
// # Performance
//
// The key store is asked once per tenant, key version and column per
// statement, not per value, and a statement's encrypted columns are moved
// between GORM and the plugin without GORM's per-value serializer
// wrapper. What remains is AES-GCM itself and the larger rows (31 bytes
// more per value). BenchmarkGORM in bench_test.go measures 10,000 rows
// against plaintext twins on Postgres.
//
// # Several databases
//
// GORM registers serializers globally, by name. One plugin per *gorm.DB
// is found through the statement; two plugins on one *gorm.DB (two key
// stores) need different serializer names ([WithSerializerName]).
//
// # Errors
//
// Failures of one field are a [*FieldError] that names the model, field
// and column, never the value, and unwraps to the cause, so errors.Is
// finds codec.ErrAuth, keystore.ErrKeyDestroyed, field.ErrNoTenant and the
// rest, and kms.IsRetryable sees a transient KMS failure. A statement
// reports its first such failure once, not once per row.
package gormplugin
