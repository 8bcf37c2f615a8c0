package faulttest_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/gormplugin"
	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/gcpkms" // registers gcpkms:// for kms.Open
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

func TestMain(m *testing.M) {
	if op := os.Getenv(envKeyChange); op != "" {
		os.Exit(runKeyChange(op)) // the other process of key_events_test.go
	}
	testhelpers.Main(m)
}

// envDuration sets how long the KMS outage scenario runs its load.
const envDuration = "COLCRYPT_FAULT_DURATION"

const (
	defaultDuration = 30 * time.Second
	// minDuration keeps every phase of the outage scenario long enough to
	// hold a few probes and a stale-grace refresh.
	minDuration = 9 * time.Second
)

var durationFlag = flag.Duration("faulttest.duration", 0,
	"length of the KMS outage scenario (overrides $"+envDuration+")")

// loadDuration is the outage scenario's length: the flag, else the
// environment, else 30s.
func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	d, src := defaultDuration, "default"
	if *durationFlag != 0 {
		d, src = *durationFlag, "-faulttest.duration"
	} else if s := os.Getenv(envDuration); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", envDuration, s, err)
		}
		d, src = v, envDuration
	}
	if d < minDuration {
		t.Fatalf("%s: duration %v is shorter than the minimum %v", src, d, minDuration)
	}
	return d
}

// kekName is the one CryptoKey of every scenario's fake KMS.
const kekName = "projects/colcrypt/locations/global/keyRings/faulttest/cryptoKeys/kek"

// startKMS starts a fake Cloud KMS and opens a keeper on it through the
// real gcpkms driver, so that every wrap and unwrap is a gRPC call on
// loopback. Both are closed by t.Cleanup.
func startKMS(t *testing.T) (*insecurefakekms.Server, *kms.Keeper) {
	t.Helper()
	srv := insecurefakekms.Start(t, kekName)
	// Strict mode: a request without its CRC32C would fail, so the fault
	// paths are shown to keep the integrity checks too.
	kek, err := kms.Open(context.Background(), srv.KeyURI(kekName))
	if err != nil {
		t.Fatalf("kms.Open(fake gcpkms): %v", err)
	}
	t.Cleanup(func() { kek.Close() })
	return srv, kek
}

// openGORM opens dsn with GORM over pgx, without logging (the scenarios
// produce errors on purpose).
func openGORM(t *testing.T, dsn string) (*gorm.DB, *sql.DB) {
	t.Helper()
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("gorm.Open: %v", err)
	}
	raw, err := db.DB()
	if err != nil {
		t.Fatalf("db.DB(): %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return db, raw
}

// openKeyDB opens dsn again as the key store's own pool, closed by
// t.Cleanup. The plugin refuses a key store on GORM's pool
// (gormplugin.ErrSharedPool): a cache miss reads the key table while
// GORM's statement holds its connection (a transaction for a write, the
// open rows for a read), so on one shared pool of n connections, n
// concurrent misses would each wait for a connection none of them gives
// back.
func openKeyDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	keyDB, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { keyDB.Close() })
	return keyDB
}

// newStore is keystore.New, closed by t.Cleanup.
func newStore(t *testing.T, raw *sql.DB, kek *kms.Keeper, opts ...keystore.Option) *keystore.Store {
	t.Helper()
	keys, err := keystore.New(raw, kek, opts...)
	if err != nil {
		t.Fatalf("keystore.New: %v", err)
	}
	t.Cleanup(keys.Close)
	return keys
}

// usePlugin installs the colcrypt plugin over keys on db.
func usePlugin(t *testing.T, db *gorm.DB, keys *keystore.Store) {
	t.Helper()
	if err := db.Use(gormplugin.New(field.NewEncryptor(keys))); err != nil {
		t.Fatalf("db.Use(gormplugin.New(enc)): %v", err)
	}
}

// migrate creates the key table and the scenarios' tables.
func migrate(t *testing.T, db *gorm.DB) {
	t.Helper()
	if err := gormplugin.AutoMigrate(db, &record{}, &auditEntry{}); err != nil {
		t.Fatalf("gormplugin.AutoMigrate: %v", err)
	}
}

// record is the row every scenario writes: an encrypted column in each
// mode, a blind index, and plaintext bookkeeping (Ref, Rev) from which
// every encrypted value can be recomputed, so a row can be checked on its
// own (see check).
type record struct {
	ID        uint   `gorm:"primaryKey"`
	Ref       string `gorm:"size:64;uniqueIndex"`
	Rev       int
	TenantID  string `gorm:"size:64;index" colcrypt:"tenant"`
	Name      string `gorm:"serializer:colcrypt"`
	Email     string `gorm:"serializer:colcrypt" colcrypt:"blindindex:email_bidx,normalize:trim+lower"`
	EmailBidx []byte `gorm:"index"`
	SSN       string `gorm:"serializer:colcrypt" colcrypt:"deterministic"`
}

// auditEntry is written in the same transaction as each change of a
// record, so that a transaction cut in half shows as a record and its
// audit trail disagreeing.
type auditEntry struct {
	ID  uint   `gorm:"primaryKey"`
	Ref string `gorm:"size:64;uniqueIndex:audit_ref_rev"`
	Rev int    `gorm:"uniqueIndex:audit_ref_rev"`
}

// newRecord returns the record ref of tenant at revision rev.
func newRecord(tenant, ref string, rev int) *record {
	r := &record{TenantID: tenant, Ref: ref}
	r.setRev(rev)
	return r
}

// setRev sets the revision and the encrypted fields that go with it.
func (r *record) setRev(rev int) {
	r.Rev = rev
	r.Name, r.Email, r.SSN = wantFields(r.Ref, rev)
}

// wantFields are the plaintexts of ref at revision rev. The e-mail is
// lower case so that its normalized blind index input is itself.
func wantFields(ref string, rev int) (name, email, ssn string) {
	return fmt.Sprintf("Name of %s at rev %d", ref, rev),
		fmt.Sprintf("%s.r%d@example.com", ref, rev),
		fmt.Sprintf("ssn-%s-%d", ref, rev)
}

// check reports whether every encrypted field of r holds what its Ref and
// Rev say: a row whose columns come from different writes fails.
func (r *record) check() error {
	name, email, ssn := wantFields(r.Ref, r.Rev)
	if r.Name != name || r.Email != email || r.SSN != ssn {
		return fmt.Errorf("record %d (ref %q, rev %d) = {Name %q, Email %q, SSN %q}, want {%q, %q, %q}",
			r.ID, r.Ref, r.Rev, r.Name, r.Email, r.SSN, name, email, ssn)
	}
	return nil
}

// checkLookups finds r by its blind index and by its deterministic column,
// under the tenant's keys, to show the stored lookup values match the
// stored ciphertexts.
func checkLookups(ctx context.Context, db *gorm.DB, r *record) error {
	for _, by := range []struct{ field, value string }{{"Email", r.Email}, {"SSN", r.SSN}} {
		var found []record
		err := db.WithContext(ctx).Scopes(gormplugin.Match(ctx, by.field, by.value)).Find(&found).Error
		if err != nil {
			return fmt.Errorf("Match(%s, %q) err = %v, want nil", by.field, by.value, err)
		}
		ok := false
		for _, f := range found {
			ok = ok || f.ID == r.ID
		}
		if !ok {
			return fmt.Errorf("Match(%s, %q) = %d rows without record %d, want it found", by.field, by.value, len(found), r.ID)
		}
	}
	return nil
}

// ctxFor is a background context carrying tenant.
func ctxFor(tenant string) context.Context {
	return field.WithTenant(context.Background(), tenant)
}

// countRows counts the rows of tenant in the records table and in the key
// table, with plain SQL.
func countRows(t *testing.T, raw *sql.DB, tenant string) (records, keys int) {
	t.Helper()
	for _, q := range []struct {
		sql string
		n   *int
	}{
		{"SELECT count(*) FROM records WHERE tenant_id = $1", &records},
		{"SELECT count(*) FROM " + sqldialect.DefaultKeyTable + " WHERE tenant_id = $1", &keys},
	} {
		if err := raw.QueryRow(q.sql, tenant).Scan(q.n); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return records, keys
}

// failures collects errors from many goroutines and reports the first
// few, so that a systematic failure does not print thousands of lines.
type failures struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.first) < 10 {
		f.first = append(f.first, fmt.Sprintf(format, args...))
	}
}

func (f *failures) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// report fails t if anything was added.
func (f *failures) report(t *testing.T, what string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return
	}
	t.Errorf("%d %s; the first:", f.n, what)
	for _, s := range f.first {
		t.Errorf("  %s", s)
	}
}

// retryable reports whether err is a transient KMS failure as a caller
// sees it: kms.IsRetryable, through a *keystore.Error.
func retryable(err error) bool {
	var ke *keystore.Error
	return kms.IsRetryable(err) && errors.As(err, &ke)
}

// wantRow is a record as a test expects to find it.
type wantRow struct {
	tenant string
	id     uint
	rev    int
}

// verifyRows reads each row through db, which must have the plugin, and
// checks it is at the revision expected, self-consistent, and found by
// its lookups.
func verifyRows(t *testing.T, db *gorm.DB, rows []wantRow) {
	t.Helper()
	var bad failures
	for _, w := range rows {
		tenant, id, rev := w.tenant, w.id, w.rev
		ctx, cancel := context.WithTimeout(ctxFor(tenant), 10*time.Second)
		var got record
		err := db.WithContext(ctx).First(&got, id).Error
		switch {
		case err != nil:
			bad.add("First(%d) of tenant %s err = %v, want nil", id, tenant, err)
		case got.Rev != rev || got.TenantID != tenant:
			bad.add("First(%d) = rev %d of %q, want rev %d of %q", id, got.Rev, got.TenantID, rev, tenant)
		default:
			if err := got.check(); err != nil {
				bad.add("%v", err)
			} else if err := checkLookups(ctx, db, &got); err != nil {
				bad.add("tenant %s: %v", tenant, err)
			}
		}
		cancel()
	}
	bad.report(t, "rows did not verify")
}

// deadlineError reports whether err says a deadline passed, by its text.
// For GORM that is all a caller has when the statement's transaction
// cannot be rolled back (database/sql already rolled it back when the
// context ended): gorm.DB.AddError then joins the plugin's error and the
// rollback's with fmt.Errorf("%v; %w"), which keeps the text of the first
// but not its chain, so errors.Is(err, context.DeadlineExceeded) fails.
func deadlineError(err error) bool {
	return strings.Contains(err.Error(), context.DeadlineExceeded.Error())
}
