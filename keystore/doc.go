// Package keystore holds colcrypt's tenant data keys: the key table in the
// application's own database, where each key is stored wrapped by a KMS
// master key, and the in-memory cache of unwrapped keys that keeps the KMS
// off the per-row path.
//
//	kek, err := kms.Open(ctx, "gcpkms://projects/p/locations/global/keyRings/app/cryptoKeys/pii")
//	err = keystore.CreateTable(ctx, db)               // a migration step
//	keys, err := keystore.New(db, kek)
//	defer keys.Close()
//	c, err := keys.ActiveCipher(ctx, tenant, "patients", "name") // version 1 on first use
//	old, err := keys.Cipher(ctx, tenant, 1, "patients", "name")  // opens version 1's values
//
// A [Store] holds, per tenant, versions of a 32-byte data key (DEK), from
// which it derives the per-column ciphers of the codec package; the key
// bytes themselves never leave the package.
//
// # Key table
//
// One row per (tenant, version); see [CreateTable] for the columns. A
// version is active (seals new values; at most one per tenant, enforced by
// a partial unique index), retired (opens old values only) or destroyed
// (its wrapped key erased). Each row names the master key that wrapped it
// (kek_uri), so rows wrapped under several master keys coexist during a
// master key rotation.
//
// # Configured master keys only
//
// The key table is data, not configuration: whoever can write the
// database can write it. So a row's kek_uri never decides which KMS is
// called, how it is reached (endpoint, credentials, insecure transport)
// or which checks are skipped. A Store unwraps only with the master keys
// the application configured: the keeper given to [New] and those given
// to [WithMasterKeys] (older keys during a master key rotation, per-tenant
// keys of TenantPolicy.KEK). A row's kek_uri is compared with their names
// by canonical name ([kms.Name]: the key's identity without connection
// settings, found by parsing, never by opening), and a row naming any
// other key fails with [ErrUnknownMasterKey] (its [Error]
// names the row and what it stores); nothing a row names is opened or
// connected to. New rows store the canonical name; rows that older
// releases stored with connection settings in kek_uri still match their
// key. A row naming a configured key but holding a blob wrapped under
// another fails in the KMS with [kms.ErrUnwrap]: either way no value is
// sealed under a data key the application's KMS did not unwrap.
//
// The KMS wraps each DEK with an encryption context (associated data) of
// the canonical encoding of ("colcrypt/dek/v1", tenant, version): a wrapped
// key copied into another tenant's row, or relabelled with another version,
// does not unwrap.
//
// The table is data, not configuration: whoever can write it is not
// trusted to choose keys. New values are sealed under the tenant's highest
// live (active or retired) version, whatever the state column says; a
// disagreement (the active row is not the highest live version, or no row
// is active while live rows exist) is logged at error level and reported
// as an EventStateMismatch, and no new version is created while live
// rows exist. A version number is never issued twice for a tenant: a new
// version is one past every row, destroyed ones included.
//
// A deleted key row is not a fresh start. Values sealed under it can no
// longer be opened by anyone without the key (a backup of the table can
// give it back), as if the version had been destroyed but without the
// tombstone that says so. A Store remembers the highest version it has
// seen per tenant, and a keyed fingerprint of each version's data key (as
// many tenants as the cache holds keys); when the table then shows fewer
// versions it fails with an [Error] of kind [ErrKeyNotFound]
// rather than issue a new key under the old number, and opening a value
// under the missing version fails with the same error, never with the
// opaque authentication error of a tampered value. A row that shows the
// version again under another data key (deleted, then issued again by a
// process that never saw it) is refused the same way, with
// Error.Replaced set. A process started after the deletion
// cannot know the row existed. Never delete key rows: [Store.DestroyVersion] and [Store.Shred]
// leave tombstones.
//
// # Tenants
//
// By default the first [Store.Active] for a tenant creates its first key
// (version 1), as earlier releases did. Then every string that reaches
// Active as a tenant id becomes a tenant with a KMS-wrapped key: a tenant
// id taken from a request is a lever on KMS cost and the key table's size.
// Applications whose tenant ids come from requests should use
// TenantPolicy.KnownOnly (keys only for tenants already in the table, put
// there by [Store.InitTenant] or "colcrypt keys init --tenant") or
// TenantPolicy.Validate (a hook consulted before a first key is created).
// A refused tenant fails with [ErrUnknownTenant] after one read of the key
// table, without a KMS call or a write.
//
// TenantPolicy.MinVersion sets a minimum version per tenant, below which versions
// neither open nor seal ([ErrVersionTooOld]). It is the application's
// configuration, not a column, so that writing the table cannot lower it;
// it is checked when a key enters the cache.
//
// # Creating keys
//
// The first key of a tenant without rows is version 1. Processes racing
// on a new tenant end with one key: each wraps a fresh key and inserts it
// if absent (INSERT … ON CONFLICT DO NOTHING; on MySQL an INSERT whose
// duplicate-key error, or InnoDB deadlock, means another process won),
// then reads back the row that won and uses its key. Nothing is sealed
// under a key before it is in the table.
//
// The table lives in Postgres, MySQL/MariaDB or SQLite, told from the
// database/sql driver (pgx, lib/pq, go-sql-driver/mysql, the SQLite
// drivers) or named with [WithDialect]. On MySQL tenant ids are byte
// strings compared exactly, never under a collation; run it with a strict
// sql_mode. SQLite needs a busy timeout for concurrent writers
// ("?_pragma=busy_timeout(5000)" on modernc), and preferably WAL; an
// in-memory SQLite database needs a shared cache or one connection.
//
// # Cache
//
// Unwrapped keys are cached per (tenant, version), and each tenant's
// active version and list of live versions beside them, for the TTL
// (Tuning.CacheTTL, default 5 minutes). A warm [Store.Active]
// is a read-locked map lookup: no I/O, no allocation, tens of
// nanoseconds. [Store.ActiveCipher] and [Store.Cipher], which sealing and
// opening use, go straight to a column's cipher through lock-free
// indexes, so goroutines on several cores do not contend. Past the TTL the row is read again and the KMS asked again,
// so that a rotation, shred or revoked KMS permission elsewhere is seen
// within the TTL; the number of KMS calls grows with tenants × versions per
// TTL, never with rows. The cache is bounded in keys (Tuning.CacheMaxKeys,
// default 10,000) and optionally in bytes (Tuning.CacheMaxBytes, accounted
// per key and per column cipher); CLOCK eviction, an approximation of
// LRU, makes room when either bound is passed. A warm tenant costs about
// 1.4 KB of heap per randomized column it uses (a deterministic column
// about 0.7 KB more), most of it the column's AES-GCM state.
//
// One load runs per key however many goroutines miss on it at once; each
// caller waits only as long as its own context allows, and the load is
// cancelled when no caller is left. Retryable KMS errors (unavailable,
// throttled, timed out) are retried with exponential backoff and full
// jitter, never sleeping past the caller's deadline (Tuning.KMSAttempts). With
// Tuning.StaleGrace, an expired key keeps serving while the KMS fails with a
// retryable error, for at most the grace, with a warning per refresh
// attempt; a non-retryable failure (a revoked permission) drops the key at
// once.
//
// A key leaving the cache (size bound, TTL and grace passed, [Store.Shred],
// [Store.Close]) has its bytes zeroed; its Cipher method then fails with
// [ErrKeyEvicted] (ask the Store again), [ErrKeyDestroyed] or [ErrClosed].
// Shred and Close also destroy the ciphers the key handed out
// ([cipher.Cipher.Destroy]): their subkeys are zeroed and a statement still
// holding one fails with [cipher.ErrCipherDestroyed]. A key evicted for
// room or age leaves its ciphers to the statements holding them; each is
// zeroed when it is garbage collected. Zeroing is best effort: the AES key
// schedules inside crypto/aes and Tink, and the HMAC pads inside
// crypto/hmac, cannot be reached to be cleared. The package's key type says
// exactly what is cleared when.
//
// Nothing in this package logs, prints or returns key bytes. Its key type
// prints as [redacted] under every fmt verb, in JSON and in log/slog, by
// pointer and by value, and a [Store] prints only its table, dialect and
// master key name.
//
// # Rotation and shredding
//
// [Store.Rotate] adds a new active version and retires the old one, which
// keeps opening the values sealed under it; re-encrypting them is the
// migrate package's job. Concurrent rotations run one after the other; one
// that keeps losing the race fails with [ErrConflict] rather than wait.
//
// [Store.DestroyVersion] destroys one retired version (never the one that
// seals new values): its wrapped key is erased, this process zeroes it at
// once, and values under it fail with [ErrKeyDestroyed]; the tenant's
// other versions are untouched.
//
// [Store.Shred] is crypto-shredding: every version of the tenant's key is
// marked destroyed and its wrapped bytes erased, and every later [Store.Cipher]
// or [Store.Active] fails with [ErrKeyDestroyed] (in other processes once
// their TTL passes). Active never creates a fresh key for a shredded
// tenant.
//
// Database backups taken before the shred still hold the wrapped keys, and
// the master key still unwraps them. To make shredding survive backups, give
// each tenant its own master key (TenantPolicy.KEK, a KEK URI with the
// tenant in it) and destroy that key in the KMS when shredding; or keep
// backups for no longer than the erasure deadline you promise.
//
// # Master key rotation
//
// [Store.Rewrap] re-wraps every live data key under a new master key,
// checking the result before it compare-and-sets the row; the data keys,
// and so every stored value, are unchanged. A Store wraps new keys with
// the keeper it was built with: deploy the new master key to every process
// first, with the old one in [WithMasterKeys] so that rows still under it
// open, then run Rewrap, then drop the old key from the configuration and
// retire it in the KMS.
//
// # Keyrings
//
// [WithKeyring] wraps every new data key under several master keys (the
// keeper given to New first): the key row holds one copy, the table named
// the key table's name plus "_wraps" the others. A cold key opens from the
// first copy that unwraps, in ring order, and a master key that failed is
// tried last for a cool-down (a circuit breaker per key), so one KMS down
// costs one failed call, not one per tenant. [Store.AddMasterKey] and
// [Store.RemoveMasterKey] add a master key to every live key, or take it
// away without ever removing a key's last copy that opens. [Upgrade] (run
// by New) adds the copies table to a key table made by an older release.
//
// # Audit trail
//
// Every key operation that changes the table (a first key, Rotate, each
// row Rewrap moves, DestroyVersion, Shred) appends one event to the table
// named the key table's name plus "_events", in the same transaction:
// time, operation, tenant, version, master key and the actor [WithActor]
// put in the context. Each event's MAC (HMAC-SHA256) covers its fields and
// the previous event's MAC, under a chain key wrapped by the master key
// and never stored in the clear, so [Store.VerifyAudit] finds an edited,
// deleted or reordered event; [Store.AuditEvents] lists them. See
// docs/AUDIT.md.
//
// # Connection pools
//
// Open the Store on a *sql.DB of its own (the same database, a few
// connections), not the pool the application's queries use: a query that
// holds a connection (a transaction, rows being read) while it asks for a
// key would otherwise, on a cache miss, wait for a connection of the same
// pool, and enough of them at once wait for each other. [Store.UsesPool]
// lets an integration refuse the shared set-up; gormplugin does.
//
// # Observability
//
// [Store.Stats] returns counters (KMS calls, errors, retries, hits, misses,
// stale serves, evictions). Telemetry.Logger takes a log/slog logger: debug
// records for each KMS call, a warning for each stale serve. Telemetry.Observer
// receives an [Event] for each KMS call (with its duration and error),
// stale serve, rotation and shred, never for a cache hit.
//
// OpenTelemetry, through its API only: Telemetry.Meters and
// Telemetry.Tracers (default: the global providers, no-ops until the
// application installs an SDK). Metrics: KMS calls by operation, driver
// and outcome with a latency histogram, and the cache counters, observed
// from the same counters as Stats so a warm seal does no metric work; the
// tenant is an attribute only with Telemetry.TenantMetrics. Spans: one per
// KMS call attempt and per key table query, children of the caller's
// context, never one per seal; a failed span holds the error's kind, not
// its text. docs/OPERATING.md lists the instruments.
package keystore
