package awskms

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/logging"

	"github.com/colcrypt/colcrypt/kms"
)

func TestNewErrors(t *testing.T) {
	client := kmssvc.NewFromConfig(testConfig("eu-west-1"))
	tests := []struct {
		name string
		key  string
		opts []Option
		want string
	}{
		{"bad key id", "projects/p/keyRings/r", nil, "not a KMS key identifier"},
		{"empty key id", "", nil, "not a KMS key identifier"},
		{"long key id", "alias/" + strings.Repeat("a", 3000), nil, "not a KMS key identifier"},
		{"client and endpoint", fakeKeyID, []Option{WithClient(client), WithEndpoint("https://h")}, "cannot be combined"},
		{"client and config", fakeKeyID, []Option{WithClient(client), WithConfig(testConfig("eu-west-1"))}, "cannot be combined"},
		{"client and region", fakeKeyID, []Option{WithClient(client), WithRegion("eu-west-1")}, "cannot be combined"},
		{"client in another region than the ARN", "arn:aws:kms:us-east-1:111122223333:key/" + fakeKeyID, []Option{WithClient(client)}, "key ARN is in us-east-1"},
		{"region other than the ARN's", fakeKeyARN, []Option{WithRegion("us-east-1"), WithConfig(testConfig(""))}, "does not match"},
		{"no region", fakeKeyID, []Option{WithConfig(testConfig(""))}, "no region"},
		{"http to a remote host", fakeKeyID, []Option{WithEndpoint("http://kms.example.com"), WithConfig(testConfig("eu-west-1"))}, "plain http"},
	}
	for _, tt := range tests {
		d, err := newDriver(t.Context(), tt.key, tt.opts...)
		if err == nil || !strings.HasPrefix(err.Error(), "awskms: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s) err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
		if d != nil {
			t.Errorf("New(%s) returned a driver with its error", tt.name)
		}
	}
}

func TestNewRegion(t *testing.T) {
	tests := []struct {
		name string
		key  string
		opts []Option
		want string
	}{
		{"from the config", fakeKeyID, []Option{WithConfig(testConfig("ap-south-1"))}, "ap-south-1"},
		{"WithRegion over the config", "alias/app", []Option{WithConfig(testConfig("ap-south-1")), WithRegion("eu-central-1")}, "eu-central-1"},
		{"the ARN's over the config", fakeKeyARN, []Option{WithConfig(testConfig("ap-south-1"))}, "eu-west-1"},
		{"a client's", fakeKeyID, []Option{WithClient(kmssvc.NewFromConfig(testConfig("sa-east-1")))}, "sa-east-1"},
	}
	for _, tt := range tests {
		d, err := newDriver(t.Context(), tt.key, tt.opts...)
		if err != nil {
			t.Errorf("New(%s) err = %v", tt.name, err)
			continue
		}
		if d.region != tt.want || d.key.id != tt.key {
			t.Errorf("New(%s): Region(), KeyID() = %q, %q; want %q, %q", tt.name, d.region, d.key.id, tt.want, tt.key)
		}
	}
}

// captureLogger records what the SDK logs.
type captureLogger struct {
	mu  sync.Mutex
	out strings.Builder
}

func (l *captureLogger) Logf(_ logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.out, format+"\n", v...)
}

func (l *captureLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// TestSDKSettingsOverridden: a client given with WithClient, or a config
// given with WithConfig, that retries and logs bodies, still makes one
// request per call and logs no data key.
func TestSDKSettingsOverridden(t *testing.T) {
	var throttle atomic.Bool
	f := newFakeKMS(t, func(w http.ResponseWriter, r *http.Request, target string) {
		if throttle.Load() {
			writeAWSError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
			return
		}
		writeOK(w, target, fakeKeyARN)
	})
	logger := &captureLogger{}
	cfg := testConfig("eu-west-1")
	cfg.RetryMaxAttempts = 5
	cfg.ClientLogMode = aws.LogRequest | aws.LogRequestWithBody | aws.LogResponseWithBody | aws.LogRetries
	cfg.Logger = logger
	client := kmssvc.NewFromConfig(cfg, func(o *kmssvc.Options) { o.BaseEndpoint = aws.String(f.URL) })
	drivers := map[string]func() (*driver, error){
		"WithClient": func() (*driver, error) { return newDriver(t.Context(), fakeKeyID, WithClient(client)) },
		"WithConfig": func() (*driver, error) {
			return newDriver(t.Context(), fakeKeyID, WithConfig(cfg), WithEndpoint(f.URL))
		},
	}
	secrets := []string{base64.StdEncoding.EncodeToString(dek), string(dek)}
	for name, mk := range drivers {
		for i := range 2 { // a second driver over the same client: Close left it usable
			d, err := mk()
			if err != nil {
				t.Fatalf("%s: New err = %v", name, err)
			}
			throttle.Store(true)
			f.calls.Store(0)
			if _, err := d.Wrap(t.Context(), dek, aad); !kms.IsRetryable(err) {
				t.Errorf("%s #%d: Wrap with ThrottlingException err = %v, want retryable", name, i, err)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("%s #%d: Wrap with ThrottlingException made %d requests, want 1", name, i, n)
			}
			throttle.Store(false)
			if _, err := d.Wrap(t.Context(), dek, aad); err != nil {
				t.Errorf("%s #%d: Wrap err = %v", name, i, err)
			}
			if _, err := d.Unwrap(t.Context(), []byte("blob"), aad); err != nil {
				t.Errorf("%s #%d: Unwrap err = %v", name, i, err)
			}
			d.Close()
		}
	}
	log := logger.String()
	if !strings.Contains(log, "X-Amz-Target") {
		t.Errorf("SDK log = %q, want request headers (LogRequest stays on)", log)
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("SDK log holds the data key")
		}
	}
}

func TestDriverString(t *testing.T) {
	d, err := newDriver(t.Context(), "alias/app-pii", WithConfig(testConfig("eu-west-1")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), "awskms(alias/app-pii)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
