// Package gcpkms is colcrypt's Cloud KMS driver: data keys are wrapped and
// unwrapped by a symmetric CryptoKey through the KeyManagementService
// Encrypt and Decrypt calls (cloud.google.com/go/kms/apiv1).
//
// Importing the package registers the "gcpkms" scheme with kms.Open:
//
//	gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//
// The stored key URI is exactly that; the optional query parameters only
// say how to connect and are dropped from it:
//
//	endpoint=host:port          another endpoint: an emulator, a fake, a regional or PSC endpoint
//	insecure=true               plaintext gRPC without credentials; needs endpoint; emulators only
//	skip_integrity_checks=true  see [InsecureSkipResponseIntegrityChecks]
//
// Without endpoint, the client uses Application Default Credentials.
//
// # Data integrity
//
// Every request carries CRC32C checksums of what it sends, and every
// response is checked as Google's data-integrity guidelines ask
// (https://cloud.google.com/kms/docs/data-integrity-guidelines): the
// service must report that it verified the checksums, the returned data
// must match the returned checksums, and an Encrypt response must name a
// version of the requested key. A failed check matches [ErrIntegrity]; it
// is retryable, since it means corruption in transit.
//
// # Errors and retries
//
// The client library's own retries are turned off for Encrypt and Decrypt,
// so that one Wrap or Unwrap is one RPC and the caller (colcrypt's keystore)
// owns retries, backoff and the time budget. Errors are classified:
// UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED (from the server),
// ABORTED, INTERNAL and integrity failures are retryable (kms.IsRetryable);
// INVALID_ARGUMENT on Decrypt is kms.ErrUnwrap; the rest (NOT_FOUND,
// PERMISSION_DENIED, …) are permanent and say what to check; status.Code
// and errors.As reach the gRPC status through them. When the caller's
// context ends, the error matches ctx.Err().
package gcpkms

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"

	cloudkms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/colcrypt/colcrypt/kms"
)

// cryptoKeyRE matches a CryptoKey resource name. Decrypt needs the
// CryptoKey, not a version: the service finds the version in the
// ciphertext, which is what lets a key rotate in Cloud KMS without
// rewrapping anything.
var cryptoKeyRE = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// noRetry turns off the client library's retries for one call; see the
// package doc.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

// driver wraps data keys with one Cloud KMS CryptoKey. It is safe for
// concurrent use.
type driver struct {
	client     *cloudkms.KeyManagementClient
	ownsClient bool
	keyName    string
	skipChecks bool
}

var _ kms.Driver = (*driver)(nil)

type config struct {
	clientOpts []option.ClientOption
	endpoint   string
	insecure   bool
	client     *cloudkms.KeyManagementClient
	skipChecks bool
}

// Option configures New.
type Option func(*config)

// WithClientOptions passes options to the Cloud KMS client the driver
// creates: credentials, quota project, user agent, and so on.
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithEndpoint connects to addr (host:port) instead of the default Cloud
// KMS endpoint.
func WithEndpoint(addr string) Option {
	return func(c *config) { c.endpoint = addr }
}

// WithInsecure connects without TLS and without credentials, for an
// emulator or a test fake on the endpoint given by [WithEndpoint]. Never use
// it with the real service.
func WithInsecure() Option {
	return func(c *config) { c.insecure = true }
}

// WithClient uses an existing client instead of creating one. The driver
// does not close it; the caller does, after the driver is closed.
func WithClient(client *cloudkms.KeyManagementClient) Option {
	return func(c *config) { c.client = client }
}

// InsecureSkipResponseIntegrityChecks turns off the response checks
// described in the package doc, for emulators that do not fill in the
// checksum fields. Request checksums are still sent. Off by default; with
// the real service, leave it off.
func InsecureSkipResponseIntegrityChecks() Option {
	return func(c *config) { c.skipChecks = true }
}

// New returns a keeper for the CryptoKey keyName
// (projects/P/locations/L/keyRings/R/cryptoKeys/K). Its URI is
// gcpkms://keyName.
func New(ctx context.Context, keyName string, opts ...Option) (*kms.Keeper, error) {
	d, err := newDriver(ctx, keyName, opts...)
	if err != nil {
		return nil, err
	}
	return kms.NewKeeper(scheme+"://"+keyName, d), nil
}

func newDriver(ctx context.Context, keyName string, opts ...Option) (*driver, error) {
	if !cryptoKeyRE.MatchString(keyName) {
		return nil, fmt.Errorf("gcpkms: %q is not a CryptoKey name: want projects/P/locations/L/keyRings/R/cryptoKeys/K", keyName)
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	d := &driver{client: cfg.client, keyName: keyName, skipChecks: cfg.skipChecks}
	if cfg.client != nil {
		if len(cfg.clientOpts) > 0 || cfg.endpoint != "" || cfg.insecure {
			return nil, errors.New("gcpkms: WithClient cannot be combined with WithClientOptions, WithEndpoint or WithInsecure")
		}
		return d, nil
	}
	if cfg.insecure && cfg.endpoint == "" {
		return nil, errors.New("gcpkms: WithInsecure needs WithEndpoint: plaintext gRPC is only for an emulator or fake")
	}
	copts := append([]option.ClientOption(nil), cfg.clientOpts...)
	if cfg.endpoint != "" {
		copts = append(copts, option.WithEndpoint(cfg.endpoint))
	}
	if cfg.insecure {
		copts = append(copts,
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	client, err := cloudkms.NewKeyManagementClient(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("gcpkms: creating Cloud KMS client (check Application Default Credentials, or use endpoint/insecure for an emulator): %w", err)
	}
	d.client, d.ownsClient = client, true
	return d, nil
}

// Wrap encrypts plaintext with the CryptoKey's primary version, binding
// wc's canonical encoding as additional authenticated data.
func (d *driver) Wrap(ctx context.Context, plaintext []byte, wc kms.WrapContext) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gcpkms: wrap: %w", err)
	}
	if len(plaintext) == 0 {
		return nil, errors.New("gcpkms: wrap: empty plaintext")
	}
	aad := wc.AAD()
	req := &kmspb.EncryptRequest{
		Name:                        d.keyName,
		Plaintext:                   plaintext,
		PlaintextCrc32C:             wrapperspb.Int64(crc32c(plaintext)),
		AdditionalAuthenticatedData: aad,
	}
	req.AdditionalAuthenticatedDataCrc32C = wrapperspb.Int64(crc32c(aad))
	resp, err := d.client.Encrypt(ctx, req, noRetry)
	if err != nil {
		return nil, d.rpcError(ctx, opWrap, err)
	}
	if !d.skipChecks {
		if err := d.checkEncrypt(resp); err != nil {
			return nil, err
		}
	}
	return resp.GetCiphertext(), nil
}

// Unwrap decrypts ciphertext with the CryptoKey; the service picks the
// version that encrypted it.
func (d *driver) Unwrap(ctx context.Context, ciphertext []byte, wc kms.WrapContext) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gcpkms: unwrap: %w", err)
	}
	aad := wc.AAD()
	req := &kmspb.DecryptRequest{
		Name:                              d.keyName,
		Ciphertext:                        ciphertext,
		CiphertextCrc32C:                  wrapperspb.Int64(crc32c(ciphertext)),
		AdditionalAuthenticatedData:       aad,
		AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(crc32c(aad)),
	}
	resp, err := d.client.Decrypt(ctx, req, noRetry)
	if err != nil {
		return nil, d.rpcError(ctx, opUnwrap, err)
	}
	if !d.skipChecks {
		if err := checkDecrypt(resp); err != nil {
			clear(resp.Plaintext)
			return nil, err
		}
	}
	return resp.GetPlaintext(), nil
}

// Close closes the client if the driver created it.
func (d *driver) Close() error {
	if !d.ownsClient {
		return nil
	}
	if err := d.client.Close(); err != nil {
		return fmt.Errorf("gcpkms: close: %w", err)
	}
	return nil
}

// String names the key; a driver holds no key material.
func (d *driver) String() string { return "gcpkms(" + d.keyName + ")" }

// checkEncrypt verifies an Encrypt response per the data-integrity
// guidelines.
func (d *driver) checkEncrypt(resp *kmspb.EncryptResponse) error {
	switch {
	case !resp.GetVerifiedPlaintextCrc32C():
		return &integrityError{Op: opWrap, Check: "the service did not verify the plaintext checksum (verified_plaintext_crc32c is false)"}
	case !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C():
		return &integrityError{Op: opWrap, Check: "the service did not verify the additional authenticated data checksum (verified_additional_authenticated_data_crc32c is false)"}
	case resp.GetCiphertextCrc32C() == nil:
		return &integrityError{Op: opWrap, Check: "the response has no ciphertext_crc32c"}
	case resp.GetCiphertextCrc32C().GetValue() != crc32c(resp.GetCiphertext()):
		return &integrityError{Op: opWrap, Check: "the ciphertext does not match ciphertext_crc32c"}
	case !d.isVersionOfKey(resp.GetName()):
		return &integrityError{Op: opWrap, Check: fmt.Sprintf("the response names %q, not a version of %s", resp.GetName(), d.keyName)}
	}
	return nil
}

// checkDecrypt verifies a Decrypt response per the data-integrity
// guidelines. Its messages never include the plaintext or its checksum.
func checkDecrypt(resp *kmspb.DecryptResponse) error {
	switch {
	case resp.GetPlaintextCrc32C() == nil:
		return &integrityError{Op: opUnwrap, Check: "the response has no plaintext_crc32c"}
	case resp.GetPlaintextCrc32C().GetValue() != crc32c(resp.GetPlaintext()):
		return &integrityError{Op: opUnwrap, Check: "the plaintext does not match plaintext_crc32c"}
	}
	return nil
}

// isVersionOfKey reports whether name is keyName/cryptoKeyVersions/V for a
// single path segment V.
func (d *driver) isVersionOfKey(name string) bool {
	v, ok := strings.CutPrefix(name, d.keyName+"/cryptoKeyVersions/")
	return ok && v != "" && !strings.Contains(v, "/")
}
