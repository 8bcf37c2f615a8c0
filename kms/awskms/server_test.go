package awskms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// endpointEnv names the local AWS-KMS-compatible server the tests use:
// local-kms, started by scripts/start-local-kms.sh.
const endpointEnv = "COLCRYPT_TEST_AWSKMS_ENDPOINT"

// localEndpoint returns the local KMS endpoint, or skips the test when none
// is configured; under CI=true it fails instead, so CI never passes a test
// it did not run.
func localEndpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		msg := "awskms: no local AWS KMS server: run `export " + endpointEnv + "=$(bash scripts/start-local-kms.sh)` (local-kms on 127.0.0.1:4599)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(msg)
	}
	return ep
}

// staticCreds are what local-kms accepts: it checks no signature.
var staticCreds = credentials.NewStaticCredentialsProvider("AKIDCOLCRYPTTEST", "colcrypt-test-secret", "")

// testConfig is an aws.Config for a local server, without the default
// chain.
func testConfig(region string) aws.Config {
	return aws.Config{Region: region, Credentials: staticCreds}
}

// useTestCredentials points the SDK's default chain, which kms.Open uses,
// at static test credentials only: no shared config file, no EC2 metadata
// service, no region.
func useTestCredentials(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDCOLCRYPTTEST",
		"AWS_SECRET_ACCESS_KEY":       "colcrypt-test-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_KMS":        "",
	} {
		t.Setenv(k, v)
	}
}

// testKey is a key created on the local server.
type testKey struct {
	ID, ARN, Region string
}

// adminClient is a plain SDK client for setting up keys.
func adminClient(t *testing.T, endpoint string) *kmssvc.Client {
	t.Helper()
	return kmssvc.NewFromConfig(testConfig("eu-west-2"), func(o *kmssvc.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// createKey creates a symmetric encryption key (or, given a spec, another
// kind) with CreateKey.
func createKey(t *testing.T, admin *kmssvc.Client, in *kmssvc.CreateKeyInput) testKey {
	t.Helper()
	if in == nil {
		in = &kmssvc.CreateKeyInput{}
	}
	if in.Description == nil {
		in.Description = aws.String("colcrypt awskms test " + t.Name())
	}
	out, err := admin.CreateKey(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateKey on the local KMS err = %v", err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	parts := strings.Split(arn, ":")
	if len(parts) != 6 {
		t.Fatalf("CreateKey returned ARN %q, want arn:aws:kms:REGION:ACCOUNT:key/ID", arn)
	}
	return testKey{ID: aws.ToString(out.KeyMetadata.KeyId), ARN: arn, Region: parts[3]}
}

// createAlias names key with a new alias unique to the test.
func createAlias(t *testing.T, admin *kmssvc.Client, key testKey) string {
	t.Helper()
	name := "alias/colcrypt-test-" + key.ID[:8]
	if _, err := admin.CreateAlias(t.Context(), &kmssvc.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(key.ID)}); err != nil {
		t.Fatalf("CreateAlias(%s) err = %v", name, err)
	}
	return name
}

// aliasARN is the ARN of alias in key's account and region.
func aliasARN(key testKey, alias string) string {
	return strings.TrimSuffix(key.ARN, "key/"+key.ID) + alias
}

var symmetric = &kmssvc.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt}

// recordedCall is one request that went through a proxy.
type recordedCall struct {
	Target string // the X-Amz-Target header, e.g. TrentService.Encrypt
	Body   []byte
}

// proxy is a loopback reverse proxy in front of local-kms. It records the
// requests it forwards, and closes two gaps between local-kms and AWS KMS
// that the conformance suite finds, answering as AWS KMS documents:
//
//   - Given a KeyId, local-kms's Decrypt ignores the key ARN that its
//     ciphertext format (length byte ‖ key ARN ‖ 4-byte version ‖ nonce ‖
//     AES-GCM output) carries, and nothing authenticates those bytes: a blob
//     whose ARN bytes were changed still decrypts. AWS KMS refuses a blob of
//     another key than KeyId with IncorrectKeyException. The proxy reads the
//     ARN from the blob (local-kms's own format) and, when it is not the
//     KeyId's (resolved with DescribeKey), answers IncorrectKeyException.
//   - local-kms panics on some malformed ciphertexts, and Go's HTTP server
//     then closes the connection without an answer: UnpackCiphertextBlob
//     computes a bound in uint8 arithmetic, which wraps for a first byte of
//     250 or more, and AesKey.Decrypt slices a 12-byte nonce from what may be
//     fewer bytes. AWS KMS answers InvalidCiphertextException; so does the
//     proxy when a Decrypt gets no answer at all.
//
// It changes nothing else: every other request goes to local-kms, every
// successful Decrypt and every other error is local-kms's own answer, and a
// connection failure on any other call is a 502. The test logs how often
// each gap was closed.
type proxy struct {
	URL string

	admin *kmssvc.Client

	mu        sync.Mutex
	calls     []recordedCall
	arns      map[string]string // KeyId → key ARN
	crashes   int               // Decrypts local-kms crashed on
	otherKeys int               // Decrypts of another key's blob
}

func newProxy(t *testing.T, endpoint string) *proxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("%s=%q: %v", endpointEnv, endpoint, err)
	}
	p := &proxy{admin: adminClient(t, endpoint), arns: map[string]string{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	// A transport of its own that never reuses a connection. Sharing
	// http.DefaultTransport's idle pool, a forwarded POST could be written
	// on a connection local-kms had just closed (it closes one whenever a
	// handler panics, which the tamper cases provoke); the transport does
	// not replay a POST, so the request failed with "use of closed network
	// connection" and a 502, whichever case was running. A fresh connection
	// per request costs a loopback handshake and removes that race.
	transport := &http.Transport{DisableKeepAlives: true}
	rp.Transport = transport
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Header.Get("X-Amz-Target") == "TrentService.Decrypt" && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			p.mu.Lock()
			p.crashes++
			p.mu.Unlock()
			writeAWSError(w, http.StatusBadRequest, "InvalidCiphertextException", "")
			return
		}
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		target := r.Header.Get("X-Amz-Target")
		p.mu.Lock()
		p.calls = append(p.calls, recordedCall{Target: target, Body: body})
		p.mu.Unlock()
		if target == "TrentService.Decrypt" && p.blobOfAnotherKey(r.Context(), body) {
			p.mu.Lock()
			p.otherKeys++
			p.mu.Unlock()
			writeAWSError(w, http.StatusBadRequest, "IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.crashes+p.otherKeys > 0 {
			t.Logf("proxy: answered %d Decrypts of a blob naming another key with IncorrectKeyException and %d that crashed local-kms with InvalidCiphertextException", p.otherKeys, p.crashes)
		}
	})
	p.URL = srv.URL
	return p
}

// Calls returns the requests so far.
func (p *proxy) Calls() []recordedCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recordedCall(nil), p.calls...)
}

// blobOfAnotherKey reports whether a Decrypt request names a KeyId and
// holds a blob, in local-kms's format, of another key. A blob too short to
// name a key, or a KeyId that DescribeKey cannot resolve, is left to
// local-kms.
func (p *proxy) blobOfAnotherKey(ctx context.Context, body []byte) bool {
	var req struct {
		KeyId          string
		CiphertextBlob []byte
	}
	if json.Unmarshal(body, &req) != nil || req.KeyId == "" {
		return false
	}
	blob := req.CiphertextBlob
	if len(blob) < 1 || len(blob) < 1+int(blob[0])+4+1 {
		return false
	}
	blobARN := string(blob[1 : 1+int(blob[0])])
	p.mu.Lock()
	arn, ok := p.arns[req.KeyId]
	p.mu.Unlock()
	if !ok {
		out, err := p.admin.DescribeKey(ctx, &kmssvc.DescribeKeyInput{KeyId: aws.String(req.KeyId)})
		if err != nil {
			return false
		}
		arn = aws.ToString(out.KeyMetadata.Arn)
		p.mu.Lock()
		p.arns[req.KeyId] = arn
		p.mu.Unlock()
	}
	return blobARN != arn
}

// writeAWSError writes an error in the AWS JSON 1.1 protocol's shape.
func writeAWSError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "req-"+code)
	w.WriteHeader(status)
	io.WriteString(w, `{"__type":"`+code+`","message":"`+message+`"}`)
}
