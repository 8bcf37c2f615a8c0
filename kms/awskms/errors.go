package awskms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/colcrypt/colcrypt/internal/kmserr"
	"github.com/colcrypt/colcrypt/kms"
)

const (
	opWrap   = "wrap"
	opUnwrap = "unwrap"
)

// apiError is a failed AWS KMS call. It wraps the SDK's error, so errors.As
// finds the SDK's types (smithy.APIError, the service's exception types)
// through it; a retryable one is further marked retryable.
type apiError struct {
	Op         string // "wrap" or "unwrap"
	KeyID      string // the key id, ARN or alias
	Code       string // the AWS error code, e.g. "NotFoundException"; "" when no answer came back
	Message    string // the service's message, or the transport error
	HTTPStatus int    // the response's status; 0 when no answer came back
	RequestID  string // the service's request id, for AWS support; may be ""
	err        error
}

func (e *apiError) Error() string {
	s := "awskms: " + e.Op + " with " + e.KeyID + ": "
	if e.Code != "" {
		s += e.Code
		if e.HTTPStatus != 0 {
			s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
		}
		s += ": "
	}
	s += e.Message
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	if h := hint(e.Code, isRetryable(e.err)); h != "" {
		s += " (" + h + ")"
	}
	return s
}

func (e *apiError) Unwrap() error { return e.err }

// unwrapCodes are the Decrypt failures that mean "not a ciphertext of this
// key with this encryption context": tampered, truncated, wrapped by
// another key (IncorrectKeyException, since Decrypt names the key), or
// wrapped with another context. They are the one opaque kms.ErrUnwrap.
var unwrapCodes = map[string]bool{
	"InvalidCiphertextException": true,
	"IncorrectKeyException":      true,
}

// errContextMismatch is InvalidCiphertextException on Decrypt: not a
// ciphertext of this key under this encryption context. Unwrap tries the
// old context form on it (see the package doc) and returns kms.ErrUnwrap
// in its place.
var errContextMismatch = fmt.Errorf("%w (InvalidCiphertextException)", kms.ErrUnwrap)

// retryableCodes are KMS's transient failures, beside the SDK's own list
// (retry.DefaultRetryables: throttling codes such as ThrottlingException
// and LimitExceededException, HTTP 500/502/503/504 and 429, connection
// errors, network timeouts). KeyUnavailableException is documented as
// "you can retry the request".
var retryableCodes = map[string]bool{
	"ThrottlingException":        true,
	"LimitExceededException":     true,
	"KMSInternalException":       true,
	"DependencyTimeoutException": true,
	"KeyUnavailableException":    true,
}

var sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)

func isRetryable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && retryableCodes[ae.ErrorCode()] {
		return true
	}
	return sdkRetryables.IsErrorRetryable(err).Bool()
}

// hint says what to check for a permanent failure.
func hint(code string, retryable bool) string {
	switch {
	case retryable:
		return "transient; retry with backoff"
	case code == "NotFoundException":
		return "check the key id, alias or ARN, and that the key exists in that account and region"
	case code == "AccessDeniedException":
		return "check that the IAM policy and the key policy allow kms:Encrypt and kms:Decrypt on the key to the caller"
	case code == "DisabledException":
		return "the key is disabled; enable it"
	case code == "KMSInvalidStateException":
		return "the key is not usable in its state: pending deletion, pending import, or its custom key store is unavailable"
	case code == "InvalidKeyUsageException":
		return "the key must be a symmetric encryption key (key spec SYMMETRIC_DEFAULT, usage ENCRYPT_DECRYPT)"
	case code == "UnrecognizedClientException", code == "InvalidSignatureException",
		code == "ExpiredTokenException", code == "MissingAuthenticationTokenException",
		code == "IncompleteSignature", code == "InvalidClientTokenId":
		return "check the AWS credentials"
	}
	return ""
}

// apiError classifies a failed Encrypt or Decrypt; see the package doc.
func (d *driver) apiError(ctx context.Context, op string, err error) error {
	// The caller's own cancellation or deadline wins over whatever the
	// transport reported for it, and is never retryable.
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("awskms: %s: %w", op, cerr)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("awskms: %s: %w", op, context.DeadlineExceeded)
	}
	e := &apiError{Op: op, KeyID: d.key.id, Message: err.Error(), err: err}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code, e.Message = ae.ErrorCode(), ae.ErrorMessage()
		if op == opUnwrap && e.Code == "InvalidCiphertextException" {
			return errContextMismatch
		}
		if op == opUnwrap && unwrapCodes[e.Code] {
			return kms.ErrUnwrap
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.HTTPStatus, e.RequestID = re.HTTPStatusCode(), re.ServiceRequestID()
	}
	if isRetryable(err) {
		return kmserr.Retryable(e)
	}
	return e
}
