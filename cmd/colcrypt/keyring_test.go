package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/colcrypt/colcrypt/internal/sqldialect"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	"github.com/colcrypt/colcrypt/kms/localkms"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// upgradeJSON is the output of keys upgrade.
type upgradeJSON struct {
	KeyTable string `json:"key_table"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	Upgraded bool   `json:"upgraded"`
}

// TestKeysUpgrade upgrades a key table of schema version 1 (the tables
// later versions add dropped) in place, then finds nothing to do; without a
// key table it fails and says how to make one. The upgrade marks the
// tenant it found in the legacy index table, which keys legacy-indexes
// shows, clears and marks again.
func TestKeysUpgrade(t *testing.T) {
	for _, dialect := range serverDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			r := f.mustRun(exitFailure, "keys", "upgrade", "-o", "json")
			if e := decodeJSON[errorJSON](t, r.stderr); !strings.Contains(e.Error, "no key table colcrypt_keys") || !strings.Contains(e.Error, "keys init") {
				t.Errorf("keys upgrade without a key table: %+v, want it to name the table and keys init", e)
			}
			f.mustRun(exitOK, "keys", "init", "--tenant", "acme")
			d := map[string]sqldialect.Dialect{"postgres": sqldialect.Postgres, "mysql": sqldialect.MySQL}[dialect]
			f.exec("DROP TABLE " + d.Quote(sqldialect.WrapsTable("colcrypt_keys")))
			f.exec("DROP TABLE " + d.Quote(sqldialect.SchemaTable("colcrypt_keys")))
			f.exec("DROP TABLE " + d.Quote(sqldialect.TenantKEKTable("colcrypt_keys")))
			f.exec("DROP TABLE " + d.Quote(sqldialect.LegacyIndexTable("colcrypt_keys")))

			up := decodeJSON[upgradeJSON](t, f.mustRun(exitOK, "keys", "upgrade", "-o", "json").stdout)
			if up.From != 1 || up.To != keystore.SchemaVersion || !up.Upgraded || up.KeyTable != "colcrypt_keys" {
				t.Errorf("keys upgrade of a version 1 table = %+v, want from 1 to %d", up, keystore.SchemaVersion)
			}
			if r := f.mustRun(exitOK, "keys", "upgrade"); !strings.Contains(r.stdout, fmt.Sprintf("schema version %d: nothing to do", keystore.SchemaVersion)) {
				t.Errorf("keys upgrade again: stdout %q, want nothing to do", r.stdout)
			}
			// The key made before the upgrade still opens, and lists its
			// one copy.
			keys := decodeJSON[[]keyRow](t, f.mustRun(exitOK, "keys", "list", "-o", "json").stdout)
			if len(keys) != 1 || !slices.Equal(keys[0].Copies, []string{keys[0].KEKURI}) {
				t.Errorf("keys list after upgrade = %+v, want acme's key with its one copy", keys)
			}
			f.mustRun(exitOK, "keys", "rotate", "--tenant", "acme")

			// The upgrade marked acme, whose blind indexes the older
			// release may have taken under its data key.
			legacy := func(want legacyJSON, args ...string) {
				t.Helper()
				got := decodeJSON[legacyJSON](t, f.mustRun(exitOK, append([]string{"keys", "legacy-indexes", "-o", "json"}, args...)...).stdout)
				if got != want {
					t.Errorf("keys legacy-indexes %v = %+v, want %+v", args, got, want)
				}
			}
			legacy(legacyJSON{Action: "count", Marked: 1})
			legacy(legacyJSON{Action: "clear", Tenant: "acme", Cleared: 1, Marked: 0}, "--clear", "--tenant", "acme")
			legacy(legacyJSON{Action: "mark", Marked: 1}, "--mark")
			legacy(legacyJSON{Action: "clear", Cleared: 1, Marked: 0}, "--clear", "--all")
			for _, bad := range [][]string{{"--clear"}, {"--clear", "--all", "--tenant", "acme"}, {"--mark", "--clear", "--all"}, {"--tenant", "acme"}} {
				f.mustRun(exitUsage, append([]string{"keys", "legacy-indexes"}, bad...)...)
			}
		})
	}
}

// legacyJSON is the output of keys legacy-indexes.
type legacyJSON struct {
	Action  string `json:"action"`
	Tenant  string `json:"tenant"`
	Cleared int64  `json:"cleared"`
	Marked  int64  `json:"marked"`
}

// TestKeyringTwoProviders runs a migration under a keyring of a fake
// Cloud KMS (reached over gRPC by the binary) and AWS local-kms, then
// takes each provider out and puts it back with remove-kek and add-kek:
// every value stays readable with the master key left, and remove-kek
// refuses to delete a copy that is the last one that opens.
func TestKeyringTwoProviders(t *testing.T) {
	const n = 300
	admin, ep, env := localKMS(t)
	for _, dialect := range serverDialects {
		t.Run(dialect, func(t *testing.T) {
			const gcpKey = "projects/colcrypt/locations/europe-west1/keyRings/cli/cryptoKeys/pii"
			srv := insecurefakekms.Start(t, gcpKey)
			gcp := srv.KeyURI(gcpKey)
			out, err := admin.CreateKey(t.Context(), &kmssvc.CreateKeyInput{Description: aws.String("colcrypt keyring test " + t.Name())})
			if err != nil {
				t.Fatalf("CreateKey on local-kms: %v", err)
			}
			awsURL := "awskms:///" + aws.ToString(out.KeyMetadata.Arn) + "?endpoint=" + ep
			gcpName, awsName := mustName(t, gcp), mustName(t, awsURL)

			f := newFixture(t, dialect)
			f.users(n)
			run := func(want int, args ...string) runResult {
				t.Helper()
				r := f.runEnv(env, args...)
				if r.code != want {
					t.Fatalf("colcrypt %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
				}
				return r
			}
			verify := func(kmsURL string) {
				t.Helper()
				r := run(exitOK, "migrate", "verify", "--table", "users", "--column", "email_enc", "--tenant-column", "tenant", "--kms", kmsURL, "-o", "json")
				if rep := decodeJSON[reportJSON](t, r.stdout); !rep.OK || rep.Encrypted != n-n/50 {
					t.Errorf("migrate verify --kms %s = %+v, want every value open", kmsURL, rep.Report)
				}
			}
			copies := func() [][]string {
				t.Helper()
				var c [][]string
				for _, k := range decodeJSON[[]keyRow](t, run(exitOK, "keys", "list", "-o", "json").stdout) {
					c = append(c, k.Copies)
				}
				return c
			}
			wantCopies := func(when string, names ...string) {
				t.Helper()
				got := copies()
				if len(got) != 3 {
					t.Fatalf("%s: keys list = %v, want 3 keys", when, got)
				}
				for _, c := range got {
					s := slices.Clone(c)
					slices.Sort(s)
					w := slices.Clone(names)
					slices.Sort(w)
					if !slices.Equal(s, w) {
						t.Errorf("%s: a key's copies = %v, want %v", when, c, names)
					}
				}
			}

			run(exitOK, "keys", "init")
			res := decodeJSON[resultJSON](t, run(exitOK, "migrate", "encrypt", "--table", "users", "--column", "email", "--to-column", "email_enc",
				"--tenant-column", "tenant", "--kms", gcp, "--kms", awsURL, "-o", "json").stdout)
			if !res.Done || res.Updated != n-n/50 {
				t.Fatalf("migrate encrypt under the keyring = %+v", res.Result)
			}
			wantCopies("after encrypt", gcpName, awsName)
			if r := run(exitOK, "keys", "list"); !strings.Contains(r.stdout, "MASTER KEYS") || !strings.Contains(r.stdout, gcpName+", "+awsName) {
				t.Errorf("keys list text:\n%s\nwant each key's copies, the key row's first", r.stdout)
			}
			// Either provider alone opens everything.
			verify(gcp)
			verify(awsURL)

			// The master key to remove may not be one of the keyring kept.
			if r := run(exitUsage, "keys", "remove-kek", gcp, "--kms", gcp, "--kms", awsURL); !strings.Contains(r.stderr, "--kms names the keyring to keep") {
				t.Errorf("remove-kek of a --kms key: stderr %q", r.stderr)
			}
			if r := run(exitUsage, "keys", "add-kek"); !strings.Contains(r.stderr, "add-kek needs the URL of the master key to add") {
				t.Errorf("add-kek without a URL: stderr %q", r.stderr)
			}

			// Leave Cloud KMS; its server is down while we do, which
			// remove-kek does not need.
			srv.Close()
			rm := decodeJSON[keyringJSON](t, run(exitOK, "keys", "remove-kek", gcp, "--kms", awsURL, "-o", "json").stdout)
			if !rm.Done || rm.Removed != 3 || rm.Promoted != 3 || rm.Scanned != 3 {
				t.Errorf("keys remove-kek gcp = %+v, want 3 removed, each promoted into its key row", rm)
			}
			wantCopies("after remove-kek gcp", awsName)
			verify(awsURL)
			// Again: nothing left to do.
			rm = decodeJSON[keyringJSON](t, run(exitOK, "keys", "remove-kek", gcp, "--kms", awsURL, "-o", "json").stdout)
			if !rm.Done || rm.Removed != 0 || rm.Skipped != 3 {
				t.Errorf("keys remove-kek gcp again = %+v, want 3 skipped", rm)
			}

			// AWS now holds the only copies: removing it is refused, key
			// by key, and nothing is deleted.
			srv2 := insecurefakekms.Start(t, gcpKey) // a new Cloud KMS key of the same name
			gcp2 := srv2.KeyURI(gcpKey)
			r := run(exitFailure, "keys", "remove-kek", awsURL, "--kms", gcp2, "-o", "json")
			if e := decodeJSON[errorJSON](t, r.stderr); e.Code != "last_copy" || !strings.Contains(e.Error, "keys add-kek") {
				t.Errorf("remove-kek of the last copies: error %+v, want code last_copy and the add-kek hint", e)
			}
			if rm := decodeJSON[keyringJSON](t, r.stdout); rm.Done || rm.Removed != 0 || len(rm.LastCopies) != 3 {
				t.Errorf("remove-kek of the last copies = %+v, want 3 keys left alone", rm)
			}
			r = run(exitFailure, "keys", "remove-kek", awsURL, "--kms", gcp2)
			if !strings.Contains(r.stderr, "master key holds the last copy of a data key") || !strings.Contains(r.stdout, "3 keys left alone") {
				t.Errorf("remove-kek of the last copies, text:\nstdout %s\nstderr %s", r.stdout, r.stderr)
			}
			wantCopies("after the refused remove-kek", awsName)

			// Back to two providers, then leave AWS.
			add := decodeJSON[keyringJSON](t, run(exitOK, "keys", "add-kek", gcp2, "--kms", awsURL, "-o", "json").stdout)
			if !add.Done || add.Added != 3 || add.Scanned != 3 {
				t.Errorf("keys add-kek = %+v, want 3 copies added", add)
			}
			wantCopies("after add-kek", gcpName, awsName)
			add = decodeJSON[keyringJSON](t, run(exitOK, "keys", "add-kek", gcp2, "--kms", awsURL, "--kms", gcp2, "-o", "json").stdout)
			if !add.Done || add.Added != 0 || add.Skipped != 3 {
				t.Errorf("keys add-kek again = %+v, want 3 skipped", add)
			}
			rm = decodeJSON[keyringJSON](t, run(exitOK, "keys", "remove-kek", awsURL, "--kms", gcp2, "-o", "json").stdout)
			if !rm.Done || rm.Removed != 3 || rm.Promoted != 3 {
				t.Errorf("keys remove-kek aws = %+v, want 3 removed and promoted", rm)
			}
			wantCopies("after remove-kek aws", gcpName)
			verify(gcp2)
			if _, err := admin.DisableKey(t.Context(), &kmssvc.DisableKeyInput{KeyId: out.KeyMetadata.KeyId}); err != nil {
				t.Fatalf("DisableKey on local-kms: %v", err)
			}
			verify(gcp2)
		})
	}
}

// TestKeyringFromEnvironment gives the keyring as blank-separated URLs in
// COLCRYPT_KMS: new keys get a copy under each.
func TestKeyringFromEnvironment(t *testing.T) {
	f := newFixture(t, "postgres")
	k1 := f.kmsURL
	if err := localkms.GenerateKeyFile(f.keyFile, "k2"); err != nil {
		t.Fatal(err)
	}
	k2 := "local://" + f.keyFile + "?id=k2"
	f.kmsURL = k1 + " " + k2
	f.mustRun(exitOK, "keys", "init", "--tenant", "acme")
	keys := decodeJSON[[]keyRow](t, f.mustRun(exitOK, "keys", "list", "-o", "json").stdout)
	if len(keys) != 1 || !slices.Equal(keys[0].Copies, []string{mustName(t, k1), mustName(t, k2)}) {
		t.Errorf("keys list = %+v, want acme's key with copies under k1 then k2", keys)
	}
	// A key given twice is a usage error, not a silent duplicate.
	f.kmsURL = k1 + " " + k1
	if r := f.run("keys", "rotate", "--tenant", "acme"); r.code != exitUsage || !strings.Contains(r.stderr, "given twice") {
		t.Errorf("keys rotate with a key twice in %s: exit %d, stderr %q", envKMS, r.code, r.stderr)
	}
}

func mustName(t *testing.T, u string) string {
	t.Helper()
	n, err := kms.Name(u)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRingProgressCounts feeds ringProgress the KMS events of a run: each
// key worked on counts once, whatever its retries and failovers, and the
// audit trail's chain key and, for add-kek, calls to other master keys
// do not count.
func TestRingProgressCounts(t *testing.T) {
	const added = "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/new"
	chain := "\x00colcrypt/keystore/audit-chain/v1/colcrypt_keys"
	events := []keystore.Event{
		{Kind: "unwrap", Tenant: chain, KEKURI: "other", Attempt: 1},
		{Kind: "unwrap", Tenant: "acme", Version: 1, KEKURI: "other", Attempt: 1},
		{Kind: "wrap", Tenant: "acme", Version: 1, KEKURI: added, Attempt: 1},
		{Kind: "unwrap", Tenant: "acme", Version: 1, KEKURI: added, Attempt: 1}, // the check
		{Kind: "unwrap", Tenant: "acme", Version: 2, KEKURI: "down", Attempt: 1},
		{Kind: "unwrap", Tenant: "acme", Version: 2, KEKURI: "other", Attempt: 1}, // failover
		{Kind: "wrap", Tenant: "acme", Version: 2, KEKURI: added, Attempt: 1},
		{Kind: "wrap", Tenant: "acme", Version: 2, KEKURI: added, Attempt: 2}, // a retry
		{Kind: "wrap", Tenant: "globex", Version: 1, KEKURI: added, Attempt: 1},
		{Kind: "wrap", Tenant: chain, KEKURI: added, Attempt: 1},
	}
	for _, tc := range []struct {
		add  bool
		want int64
	}{{true, 3}, {false, 2}} {
		p := &ringProgress{name: added, add: tc.add, view: &progressView{w: io.Discard, off: true}}
		for _, e := range events {
			p.observe(e)
		}
		// add-kek counts the wraps under the added key (acme v1, v2,
		// globex v1); remove-kek the keys unwrapped (acme v1, v2).
		if p.done != tc.want {
			t.Errorf("add=%v: %d keys done, want %d", tc.add, p.done, tc.want)
		}
	}
}

// TestKeysSetKEK gives one tenant of a two-key ring its own master key:
// its keys end up under that key alone, its new versions too, and the
// other tenant keeps its ring copies.
func TestKeysSetKEK(t *testing.T) {
	for _, dialect := range serverDialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			for _, id := range []string{"k2", "acme-own"} {
				if err := localkms.GenerateKeyFile(f.keyFile, id); err != nil {
					t.Fatal(err)
				}
			}
			k1, k2, own := f.kmsURL, "local://"+f.keyFile+"?id=k2", "local://"+f.keyFile+"?id=acme-own"
			ring := []string{"--kms", k1, "--kms", k2}
			f.mustRun(exitOK, append([]string{"keys", "init", "--tenant", "acme,globex"}, ring...)...)
			f.mustRun(exitOK, append([]string{"keys", "rotate", "--tenant", "acme"}, ring...)...)

			if r := f.run(append([]string{"keys", "set-kek", own}, ring...)...); r.code != exitUsage || !strings.Contains(r.stderr, "--tenant") {
				t.Errorf("set-kek without --tenant: exit %d, stderr %q", r.code, r.stderr)
			}
			out := decodeJSON[map[string]any](t, f.mustRun(exitOK, append([]string{"keys", "set-kek", "--tenant", "acme", own, "-o", "json"}, ring...)...).stdout)
			// acme's 2 data keys and its index key.
			if out["rewrapped"] != float64(3) || out["master_key"] != mustName(t, own) || out["done"] != true {
				t.Errorf("keys set-kek = %v, want acme's 2 data keys and its index key rewrapped under its own key", out)
			}
			out = decodeJSON[map[string]any](t, f.mustRun(exitOK, append([]string{"keys", "set-kek", "--tenant", "acme", own, "-o", "json"}, ring...)...).stdout)
			if out["rewrapped"] != float64(0) || out["skipped"] != float64(3) {
				t.Errorf("keys set-kek again = %v, want all 3 keys skipped", out)
			}
			// A new version of acme goes under its own key alone.
			f.mustRun(exitOK, append([]string{"keys", "rotate", "--tenant", "acme", "--old-kms", own}, ring...)...)
			for _, k := range decodeJSON[[]keyRow](t, f.mustRun(exitOK, "keys", "list", "-o", "json").stdout) {
				want := []string{mustName(t, k1), mustName(t, k2)}
				if k.Tenant == "acme" {
					want = []string{mustName(t, own)}
				}
				if !slices.Equal(k.Copies, want) {
					t.Errorf("%s v%d copies = %v, want %v", k.Tenant, k.Version, k.Copies, want)
				}
			}
		})
	}
}
