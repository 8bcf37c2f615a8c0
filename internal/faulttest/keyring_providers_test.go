package faulttest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/colcrypt/colcrypt/codec"
	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/keystore"
	"github.com/colcrypt/colcrypt/kms"
	_ "github.com/colcrypt/colcrypt/kms/awskms" // registers awskms:// for kms.Open
	"github.com/colcrypt/colcrypt/testhelpers"
	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// TestKeyringTwoProviders wraps every data key under a fake Cloud KMS and
// AWS KMS (local-kms) at once, then removes Cloud KMS from the keyring
// with RemoveMasterKey while its server is down: every value, sealed
// under active and retired versions, still opens through a process that
// has AWS KMS alone, and a process that has Cloud KMS alone no longer
// finds a copy it may open. Adding Cloud KMS back (AddMasterKey) makes it
// open everything again.
func TestKeyringTwoProviders(t *testing.T) {
	ctx := context.Background()
	awsURL := localKMSKey(t)
	srv := insecurefakekms.Start(t, regionA)
	gcp := openKeeper(t, srv.KeyURI(regionA))
	awsKEK := openKeeper(t, awsURL)
	dsn := testhelpers.Postgres(t)
	raw := openKeyDB(t, dsn)
	if err := keystore.CreateTable(ctx, raw, keystore.WithDialect("postgres")); err != nil {
		t.Fatalf("keystore.CreateTable: %v", err)
	}

	// Values of 20 tenants under version 1, and of every other tenant
	// under version 2 as well.
	ring := newStore(t, raw, gcp, keystore.WithKeyring(awsKEK))
	enc := field.NewEncryptor(ring)
	type value struct {
		tenant string
		pt, ct []byte
	}
	var values []value
	seal := func(tenant string, n int) {
		pt := fmt.Appendf(nil, "value %d of %s", n, tenant)
		ct, err := enc.Seal(ctx, sealScope(tenant), pt)
		if err != nil {
			t.Fatalf("Seal(%s) under the keyring err = %v, want nil", tenant, err)
		}
		values = append(values, value{tenant, pt, ct})
	}
	for i := range 20 {
		seal(fmt.Sprintf("prov-%02d", i), 1)
	}
	for i := 0; i < 20; i += 2 {
		tenant := fmt.Sprintf("prov-%02d", i)
		if _, err := ring.Rotate(ctx, tenant); err != nil {
			t.Fatalf("Rotate(%s): %v", tenant, err)
		}
		seal(tenant, 2)
	}
	infos, err := ring.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 30 {
		t.Fatalf("List() = %d keys, want 30", len(infos))
	}
	for _, ki := range infos {
		if !slices.Equal(ki.Copies, []string{gcp.URI(), awsKEK.URI()}) {
			t.Fatalf("key of %s v%d has copies %v, want Cloud KMS then AWS KMS", ki.Tenant, ki.Version, ki.Copies)
		}
	}
	// openAll opens every value through a new process on the master keys
	// given, and returns the first error.
	openAll := func(kek *kms.Keeper, more ...keystore.Option) error {
		e := field.NewEncryptor(newStore(t, openKeyDB(t, dsn), kek, more...))
		for _, v := range values {
			got, err := e.Open(ctx, sealScope(v.tenant), v.ct)
			if err != nil {
				return fmt.Errorf("Open(value of %s): %w", v.tenant, err)
			}
			if !bytes.Equal(got, v.pt) {
				return fmt.Errorf("Open(value of %s) = %q, want %q", v.tenant, got, v.pt)
			}
		}
		return nil
	}
	for _, kek := range []*kms.Keeper{gcp, awsKEK} {
		if err := openAll(kek); err != nil {
			t.Errorf("with %s alone: %v, want every value open", kek.URI(), err)
		}
	}

	// Cloud KMS leaves the keyring: the processes are deployed with AWS
	// KMS alone, and the copies under Cloud KMS are removed while it is
	// unreachable.
	srv.Close()
	awsOnly := newStore(t, openKeyDB(t, dsn), awsKEK)
	res, err := awsOnly.RemoveMasterKey(ctx, gcp)
	if err != nil || res.Removed != 30 || res.Promoted != 30 || res.Scanned != 30 {
		t.Fatalf("RemoveMasterKey(Cloud KMS) = %+v, %v; want 30 copies removed, each replaced in its key row", res, err)
	}
	if infos, err = awsOnly.List(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, ki := range infos {
		if !slices.Equal(ki.Copies, []string{awsKEK.URI()}) {
			t.Errorf("after RemoveMasterKey: key of %s v%d has copies %v, want AWS KMS only", ki.Tenant, ki.Version, ki.Copies)
		}
	}
	if err := openAll(awsKEK); err != nil {
		t.Errorf("after RemoveMasterKey, with AWS KMS alone: %v, want every value open", err)
	}
	// A process with only the removed master key finds no copy it may
	// open: it neither reaches for AWS KMS nor gets a key.
	srv2 := insecurefakekms.Start(t, regionA)
	gcp2 := openKeeper(t, srv2.KeyURI(regionA))
	if err := openAll(gcp2); !errors.Is(err, keystore.ErrUnknownMasterKey) || errors.Is(err, codec.ErrAuth) {
		t.Errorf("after RemoveMasterKey, with Cloud KMS alone: %v, want keystore.ErrUnknownMasterKey", err)
	}

	// The other way back: Cloud KMS (a new key of the same name) joins
	// again, and then holds a copy of every key.
	res, err = newStore(t, openKeyDB(t, dsn), awsKEK, keystore.WithKeyring(gcp2)).AddMasterKey(ctx, gcp2)
	if err != nil || res.Added != 30 {
		t.Fatalf("AddMasterKey(Cloud KMS) = %+v, %v; want 30 copies added", res, err)
	}
	if err := openAll(gcp2); err != nil {
		t.Errorf("after AddMasterKey, with Cloud KMS alone: %v, want every value open", err)
	}
	// Removing AWS KMS while the new Cloud KMS key is the only other copy
	// works too, and removing the last copies is refused key by key.
	gcpOnly := newStore(t, openKeyDB(t, dsn), gcp2)
	if res, err = gcpOnly.RemoveMasterKey(ctx, awsKEK); err != nil || res.Removed != 30 {
		t.Fatalf("RemoveMasterKey(AWS KMS) = %+v, %v; want 30 removed", res, err)
	}
	res, err = newStore(t, openKeyDB(t, dsn), awsKEK).RemoveMasterKey(ctx, gcp2)
	var lc *keystore.LastCopyError
	if !errors.As(err, &lc) || len(lc.Keys) != 30 || res.Removed != 0 {
		t.Errorf("RemoveMasterKey of the last copies = %+v, %v; want a *LastCopyError for 30 keys and nothing removed", res, err)
	}
	if err := openAll(gcp2); err != nil {
		t.Errorf("after the refused removal, with Cloud KMS alone: %v, want every value open", err)
	}
}

// localKMSKey creates a key on local-kms (COLCRYPT_TEST_AWSKMS_ENDPOINT;
// a failure under CI=true when unset) and returns its awskms:// URL, with
// the SDK's default chain pointed at static test credentials only.
func localKMSKey(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("COLCRYPT_TEST_AWSKMS_ENDPOINT")
	if ep == "" {
		msg := "COLCRYPT_TEST_AWSKMS_ENDPOINT is not set (bash scripts/start-local-kms.sh 4599)"
		if testhelpers.InCI() {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDCOLCRYPTTEST", "AWS_SECRET_ACCESS_KEY": "colcrypt-test-secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	creds := credentials.NewStaticCredentialsProvider("AKIDCOLCRYPTTEST", "colcrypt-test-secret", "")
	admin := kmssvc.NewFromConfig(aws.Config{Region: "eu-west-2", Credentials: creds}, func(o *kmssvc.Options) {
		o.BaseEndpoint = aws.String(ep)
	})
	out, err := admin.CreateKey(t.Context(), &kmssvc.CreateKeyInput{Description: aws.String("colcrypt faulttest " + t.Name())})
	if err != nil {
		t.Fatalf("CreateKey on local-kms: %v", err)
	}
	return "awskms:///" + aws.ToString(out.KeyMetadata.Arn) + "?endpoint=" + ep
}
