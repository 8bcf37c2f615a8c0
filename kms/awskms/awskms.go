// Package awskms is colcrypt's AWS KMS driver: data keys are wrapped and
// unwrapped by a symmetric KMS key through the Encrypt and Decrypt calls of
// the AWS SDK for Go v2 (github.com/aws/aws-sdk-go-v2/service/kms).
//
// Importing the package registers the "awskms" scheme with kms.Open:
//
//	awskms://alias/NAME?region=R                            an alias
//	awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=R  a key id (or mrk-… for a multi-Region key)
//	awskms:///arn:aws:kms:R:ACCOUNT:key/KEY-ID              a key ARN
//	awskms:///arn:aws:kms:R:ACCOUNT:alias/NAME              an alias ARN
//
// An ARN takes three slashes: its colons cannot stand in a URL's host part.
// An ARN names its region and account; an alias or key id means the one in
// the caller's account, in region R, which is taken from the region
// parameter or else from the SDK's configuration (AWS_REGION, the profile).
// Prefer an ARN in production: it names one key whoever reads the URI.
//
// The stored key URI is the URL in the form above, with the resolved region
// for an alias or key id, and without the options that only say how to
// connect:
//
//	endpoint=http://127.0.0.1:4599  another endpoint: local-kms, a VPC or FIPS endpoint, a proxy.
//	                                Plain http is accepted only to a loopback address, since
//	                                data keys travel in the request.
//
// Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, the shared config and credentials files, SSO, web
// identity, the container or EC2 role), or from [WithConfig] or
// [WithClient] when the keeper is made with [New].
//
// # Encryption context
//
// colcrypt binds each data key to a kms.WrapContext: its purpose, its
// tenant and its key version. AWS KMS takes associated data as an
// encryption context, a map of strings, and the driver sends each field as
// its own entry:
//
//	{"colcrypt-purpose": "colcrypt/dek/v1", "colcrypt-tenant": "acme", "colcrypt-key-version": "3"}
//
// (colcrypt-tenant is left out for a context with no tenant). Decrypt
// succeeds exactly when it is given the context Encrypt was given, and any
// AWS client that knows these three keys can unwrap a key. Because the
// entries are plain strings, a key policy or IAM policy can condition on
// them, for example to let one service's role unwrap only its own tenants'
// keys:
//
//	"Condition": {"StringEquals": {"kms:EncryptionContext:colcrypt-tenant": "acme"}}
//
// and CloudTrail records each entry readably with every Encrypt and
// Decrypt, which makes every KMS call attributable to a tenant and key
// version in the audit log. It also means tenant ids are readable by
// whoever reads the trail; a deployment whose tenant ids are themselves
// secret should use opaque ids.
//
// Keys wrapped by earlier releases carry the context as a single entry,
// {"colcrypt-aad": base64(kms.WrapContext.AAD)}. Unwrap tries the
// entries above first and, when AWS KMS answers that the ciphertext does
// not match (InvalidCiphertextException), once more with that single
// entry, so such keys keep unwrapping; each costs one extra Decrypt (once
// per cache load) until it is rewrapped under another master key, which
// writes the new form.
// Both forms bind the same purpose, tenant and version, so the fallback
// accepts nothing the new form would refuse.
//
// # Errors and retries
//
// The SDK's own retries are turned off (one attempt) for Encrypt and
// Decrypt, so that one Wrap or Unwrap is one request and the caller
// (colcrypt's keystore) owns retries, backoff and the time budget. The SDK's
// request and response body logging is turned off too, since bodies hold data
// keys. Decrypt always names the key (KeyId), so a blob wrapped by another
// key is refused rather than decrypted by whichever key it names, and sends
// the same encryption context. Errors are classified:
// InvalidCiphertextException and IncorrectKeyException on Decrypt are
// kms.ErrUnwrap; ThrottlingException, LimitExceededException,
// KMSInternalException, DependencyTimeoutException, KeyUnavailableException,
// HTTP 500, 502, 503, 504 and 429, connection failures and network timeouts are retryable
// (kms.IsRetryable); the rest (NotFoundException, AccessDeniedException,
// DisabledException, KMSInvalidStateException, …) are permanent errors
// that say what to check; errors.As finds the SDK's smithy.APIError (and the
// service's exception types) through them. KMSInvalidStateException is permanent because a
// key pending deletion or pending import stays so until someone acts on it.
// When the caller's context ends, the error matches ctx.Err().
package awskms

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmssvc "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/colcrypt/colcrypt/kms"
)

// Encryption context keys; see the package doc.
const (
	contextPurpose = "colcrypt-purpose"
	contextTenant  = "colcrypt-tenant"
	contextVersion = "colcrypt-key-version"
	// legacyContextKey carried base64(WrapContext.AAD()) in keys wrapped
	// by earlier releases.
	legacyContextKey = "colcrypt-aad"
)

const (
	// maxPlaintextSize is the largest plaintext AWS KMS Encrypt accepts.
	// Larger ones are refused without a request. Data keys are 32 bytes.
	maxPlaintextSize = 4096
	// maxCiphertextSize is AWS KMS's limit on Decrypt's CiphertextBlob.
	maxCiphertextSize = 6144
)

var errClosed = errors.New("awskms: driver is closed")

// driver wraps data keys with one AWS KMS key. It is safe for concurrent
// use.
type driver struct {
	client *kmssvc.Client
	key    keyID
	region string
	closed atomic.Bool
}

var _ kms.Driver = (*driver)(nil)

// New returns a keeper for the KMS key named by keyID: a key id, a key ARN,
// an alias (alias/NAME) or an alias ARN. Its URI is the key's canonical
// URL (awskms:///ARN, or awskms://ID?region=R for a key id or alias).
func New(ctx context.Context, keyID string, opts ...Option) (*kms.Keeper, error) {
	d, err := newDriver(ctx, keyID, opts...)
	if err != nil {
		return nil, err
	}
	return kms.NewKeeper(keyURL(d.key.id, d.region), d), nil
}

func newDriver(ctx context.Context, keyID string, opts ...Option) (*driver, error) {
	key, err := parseKeyID(keyID)
	if err != nil {
		return nil, err
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	client, region, err := cfg.newClient(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver{client: client, key: key, region: region}, nil
}

// oneAttempt turns off the SDK's retries and body logging for one call;
// see the package doc. It applies to clients given with WithClient too.
func oneAttempt(o *kmssvc.Options) {
	o.Retryer = aws.NopRetryer{}
	o.RetryMaxAttempts = 1
	o.ClientLogMode &^= aws.LogRequestWithBody | aws.LogResponseWithBody
}

// encryptionContext is wc as the entries described in the package doc.
func encryptionContext(wc kms.WrapContext) map[string]string {
	ec := map[string]string{
		contextPurpose: wc.Purpose,
		contextVersion: strconv.FormatUint(uint64(wc.Version), 10),
	}
	if wc.Tenant != "" {
		ec[contextTenant] = wc.Tenant
	}
	return ec
}

// legacyEncryptionContext is wc as earlier releases sent it.
func legacyEncryptionContext(wc kms.WrapContext) map[string]string {
	return map[string]string{legacyContextKey: base64.StdEncoding.EncodeToString(wc.AAD())}
}

// Wrap encrypts plaintext under the key, binding wc as the encryption
// context.
func (d *driver) Wrap(ctx context.Context, plaintext []byte, wc kms.WrapContext) ([]byte, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awskms: wrap: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, errors.New("awskms: wrap: empty plaintext")
	}
	if len(plaintext) > maxPlaintextSize {
		return nil, fmt.Errorf("awskms: wrap: plaintext is %d bytes; AWS KMS Encrypt takes at most %d", len(plaintext), maxPlaintextSize)
	}
	out, err := d.client.Encrypt(ctx, &kmssvc.EncryptInput{
		KeyId:               aws.String(d.key.id),
		Plaintext:           plaintext,
		EncryptionContext:   encryptionContext(wc),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	}, oneAttempt)
	if err != nil {
		return nil, d.apiError(ctx, opWrap, err)
	}
	if len(out.CiphertextBlob) == 0 {
		return nil, fmt.Errorf("awskms: wrap with %s: the response has no ciphertext", d.key.id)
	}
	if err := d.checkResponseKey(opWrap, aws.ToString(out.KeyId)); err != nil {
		return nil, err
	}
	return out.CiphertextBlob, nil
}

// Unwrap decrypts ciphertext with the key, which must be the one that
// wrapped it, and the encryption context of wc: first as entries, then in
// the single-entry form of earlier releases (see the package doc).
func (d *driver) Unwrap(ctx context.Context, ciphertext []byte, wc kms.WrapContext) ([]byte, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awskms: unwrap: %w", err)
	}
	// KMS answers these with a ValidationException that quotes the blob;
	// they are simply not ciphertexts of this key.
	if len(ciphertext) == 0 || len(ciphertext) > maxCiphertextSize {
		return nil, kms.ErrUnwrap
	}
	pt, err := d.decrypt(ctx, ciphertext, encryptionContext(wc))
	if err == errContextMismatch {
		pt, err = d.decrypt(ctx, ciphertext, legacyEncryptionContext(wc))
	}
	if errors.Is(err, kms.ErrUnwrap) {
		return nil, kms.ErrUnwrap
	}
	return pt, err
}

// decrypt is one Decrypt call with the encryption context ec.
func (d *driver) decrypt(ctx context.Context, ciphertext []byte, ec map[string]string) ([]byte, error) {
	out, err := d.client.Decrypt(ctx, &kmssvc.DecryptInput{
		KeyId:               aws.String(d.key.id),
		CiphertextBlob:      ciphertext,
		EncryptionContext:   ec,
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
	}, oneAttempt)
	if err != nil {
		return nil, d.apiError(ctx, opUnwrap, err)
	}
	if err := d.checkResponseKey(opUnwrap, aws.ToString(out.KeyId)); err != nil {
		clear(out.Plaintext)
		return nil, err
	}
	if len(out.Plaintext) == 0 {
		return nil, fmt.Errorf("awskms: unwrap with %s: the response has no plaintext", d.key.id)
	}
	return out.Plaintext, nil
}

// checkResponseKey checks that the service answered for the driver's key,
// when the driver's key id says which key that is (an alias does not
// without a DescribeKey call). AWS KMS always returns the key ARN. Key ids
// are hex, so case does not matter.
func (d *driver) checkResponseKey(op, got string) error {
	var ok bool
	switch {
	case d.key.keyARN != "":
		ok = strings.EqualFold(got, d.key.keyARN)
	case d.key.bareID != "":
		ok = strings.HasPrefix(got, "arn:") && strings.HasSuffix(strings.ToLower(got), ":key/"+strings.ToLower(d.key.bareID))
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("awskms: %s with %s: the response names key %s, not this key", op, d.key.id, quote(got))
	}
	return nil
}

// Close marks the driver closed; later calls fail. The SDK's HTTP client
// has nothing to close: idle connections time out.
func (d *driver) Close() error {
	d.closed.Store(true)
	return nil
}

// String names the key; a driver holds no key material.
func (d *driver) String() string { return "awskms(" + d.key.id + ")" }
