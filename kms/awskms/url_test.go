package awskms

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/colcrypt/colcrypt/kms"
)

// TestOpenURL opens one key by every URL form against local-kms, checks
// the canonical URI, and that the canonical URI opens the same key.
func TestOpenURL(t *testing.T) {
	ep := localEndpoint(t)
	useTestCredentials(t)
	admin := adminClient(t, ep)
	key := createKey(t, admin, nil)
	alias := createAlias(t, admin, key)
	r := key.Region
	aliasURI := "awskms://" + alias + "?region=" + r
	idURI := "awskms://" + key.ID + "?region=" + r
	tests := []struct {
		url, wantURI string
	}{
		{"awskms://" + alias + "?region=" + r, aliasURI},
		{"awskms:///" + alias + "?region=" + r, aliasURI},
		{"awskms://" + key.ID + "?region=" + r, idURI},
		{"awskms:///" + key.ID + "?region=" + r, idURI},
		{"awskms:///" + key.ARN, "awskms:///" + key.ARN},
		{"awskms:///" + key.ARN + "?region=" + r, "awskms:///" + key.ARN},
		{"awskms:///" + url.PathEscape(key.ARN), "awskms:///" + key.ARN},
		{"awskms:///" + strings.ReplaceAll(key.ARN, ":", "%3A"), "awskms:///" + key.ARN},
		{"awskms:///" + aliasARN(key, alias), "awskms:///" + aliasARN(key, alias)},
	}
	// A blob wrapped by any form unwraps with any other: one key.
	var blobs [][]byte
	for _, tt := range tests {
		withEndpoint := tt.url + sep(tt.url) + "endpoint=" + url.QueryEscape(ep)
		k, err := kms.Open(t.Context(), withEndpoint)
		if err != nil {
			t.Errorf("kms.Open(%q) err = %v", withEndpoint, err)
			continue
		}
		if k.URI() != tt.wantURI {
			t.Errorf("kms.Open(%q).URI() = %q, want %q (no endpoint)", withEndpoint, k.URI(), tt.wantURI)
		}
		for i, blob := range blobs {
			if got, err := k.Unwrap(t.Context(), blob, aad); err != nil || !bytes.Equal(got, dek) {
				t.Errorf("kms.Open(%q).Unwrap(blob of form %d) err = %v, plaintext equal = %v; want nil, true", tt.url, i, err, bytes.Equal(got, dek))
			}
		}
		blob, err := k.Wrap(t.Context(), dek, aad)
		if err != nil {
			t.Fatalf("kms.Open(%q).Wrap err = %v", tt.url, err)
		}
		blobs = append(blobs, blob)
		k2, err := kms.Open(t.Context(), k.URI()+sep(k.URI())+"endpoint="+ep)
		if err != nil {
			t.Fatalf("kms.Open(canonical %q) err = %v", k.URI(), err)
		}
		if got, err := k2.Unwrap(t.Context(), blob, aad); err != nil || !bytes.Equal(got, dek) {
			t.Errorf("canonical %q: Unwrap err = %v, plaintext equal = %v; want nil, true", k.URI(), err, bytes.Equal(got, dek))
		}
		k.Close()
		k2.Close()
	}
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// TestOpenURLRegionFromEnvironment: without ?region=, an alias or key id is
// in the SDK configuration's region, which the canonical URI then names.
func TestOpenURLRegionFromEnvironment(t *testing.T) {
	ep := localEndpoint(t)
	useTestCredentials(t)
	admin := adminClient(t, ep)
	key := createKey(t, admin, nil)
	t.Setenv("AWS_REGION", key.Region)
	k, err := kms.Open(t.Context(), "awskms://"+key.ID+"?endpoint="+ep)
	if err != nil {
		t.Fatalf("kms.Open err = %v", err)
	}
	defer k.Close()
	if want := "awskms://" + key.ID + "?region=" + key.Region; k.URI() != want {
		t.Errorf("URI() = %q, want %q", k.URI(), want)
	}
	if _, err := k.Wrap(t.Context(), dek, aad); err != nil {
		t.Errorf("Wrap err = %v", err)
	}
}

func TestOpenURLErrors(t *testing.T) {
	useTestCredentials(t)
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/" + fakeKeyID
	tests := []struct {
		url  string
		want string
	}{
		{"awskms://", "no key in URL"},
		{"awskms:///", "no key in URL"},
		{"awskms://alias", "not a KMS key identifier"},
		{"awskms://alias/?region=eu-west-1", "not a KMS key identifier"},
		{"awskms://alias/a b?region=eu-west-1", "not a KMS key identifier"},
		{"awskms://1234?region=eu-west-1", "not a KMS key identifier"},
		{"awskms://key/" + fakeKeyID + "?region=eu-west-1", "not a KMS key identifier"},
		{"awskms:///arn:aws:kms:eu-west-1:111122223333:key/", "not a KMS key identifier"},
		{"awskms:///arn:aws:kms:eu-west-1:111122223333:key/x", "not a KMS key identifier"},
		{"awskms:///arn:aws:kms:eu-west-1:1111:key/" + fakeKeyID, "not a KMS key identifier"},
		{"awskms:///arn:aws:s3:eu-west-1:111122223333:key/" + fakeKeyID, "not a KMS key identifier"},
		{"awskms:///" + arn + "/x", "not a KMS key identifier"},
		{"awskms:" + arn, "malformed URL"},
		{"awskms://user@alias/app?region=eu-west-1", "malformed URL"},
		{"awskms://alias/app?region=eu-west-1#x", "malformed URL"},
		{"awskms://alias/app", "no region"},
		{"awskms://alias/app?region=", "region is empty"},
		{"awskms://alias/app?region=EU_WEST", "not an AWS region"},
		{"awskms://alias/app?region=a&region=b", "given 2 times"},
		{"awskms://alias/app?regoin=eu-west-1", `unknown URL parameter "regoin"`},
		{"awskms://alias/app?region=eu-west-1&endpoint=", "endpoint is empty"},
		{"awskms://alias/app?region=eu-west-1&endpoint=http://kms.example.com", "plain http"},
		{"awskms://alias/app?region=eu-west-1&endpoint=http://10.0.0.1:4599", "plain http"},
		{"awskms://alias/app?region=eu-west-1&endpoint=ftp://127.0.0.1", "want http(s)://host[:port]"},
		{"awskms://alias/app?region=eu-west-1&endpoint=127.0.0.1:4599", "want http(s)://host[:port]"},
		{"awskms://alias/app?region=eu-west-1&endpoint=https://h/path", "want http(s)://host[:port]"},
		{"awskms://alias/app?region=eu-west-1&endpoint=https://h?x=1", "want http(s)://host[:port]"},
		{"awskms://alias/app?region=eu-west-1&endpoint=" + url.QueryEscape("https://me:hunter2@h"), "must not hold user info"},
		{"awskms:///" + arn + "?region=us-east-1", "does not match the key ARN's region"},
	}
	for _, tt := range tests {
		k, err := kms.Open(t.Context(), tt.url)
		if err == nil {
			k.Close()
		}
		if err == nil || !strings.HasPrefix(err.Error(), "kms: open awskms: awskms: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("kms.Open(%q) err = %v, want one mentioning %q", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("kms.Open(%q) err = %v, quotes the endpoint's password", tt.url, err)
		}
	}
	// Two slashes before an ARN: net/url reads its colons as a port, and
	// kms.Open fails before the driver sees the URL.
	if _, err := kms.Open(t.Context(), "awskms://"+arn); err == nil {
		t.Errorf("kms.Open(awskms://ARN) err = nil, want an error")
	}
}

func TestKeyURL(t *testing.T) {
	tests := []struct {
		key, region, want string
	}{
		{"alias/app-pii", "eu-west-1", "awskms://alias/app-pii?region=eu-west-1"},
		{fakeKeyID, "us-east-1", "awskms://" + fakeKeyID + "?region=us-east-1"},
		{fakeKeyARN, "eu-west-1", "awskms:///" + fakeKeyARN},
		{"arn:aws:kms:eu-west-1:111122223333:alias/app", "", "awskms:///arn:aws:kms:eu-west-1:111122223333:alias/app"},
	}
	for _, tt := range tests {
		if got := keyURL(tt.key, tt.region); got != tt.want {
			t.Errorf("KeyURL(%q, %q) = %q, want %q", tt.key, tt.region, got, tt.want)
		}
	}
}

// TestName: kms.Name keeps the key and its region, drops the endpoint, and
// reaches no service.
func TestName(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tt := range []struct{ url, want string }{
		{"awskms://alias/app?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A1", "awskms://alias/app?region=eu-west-1"},
		{"awskms:///" + arn + "?endpoint=http%3A%2F%2F127.0.0.1%3A1", "awskms:///" + arn},
		{"awskms:///" + arn + "?region=eu-west-1", "awskms:///" + arn},
		{"awskms://alias/app", "awskms://alias/app"},
	} {
		if got, err := kms.Name(tt.url); err != nil || got != tt.want {
			t.Errorf("kms.Name(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	if got, err := kms.Name("awskms://alias/app?bogus=1"); err == nil {
		t.Errorf("kms.Name(unknown parameter) = %q, nil; want an error", got)
	}
}
