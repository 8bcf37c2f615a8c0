package gcpkms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/colcrypt/colcrypt/internal/kmserr"
	"github.com/colcrypt/colcrypt/kms"
)

const (
	opWrap   = "wrap"
	opUnwrap = "unwrap"
)

// ErrIntegrity is matched (errors.Is) by a failed CRC32C or key-name check
// on a request or response. Google's guidance is to retry a few times: it
// means data was corrupted between the client and the service, and it is
// transient (kms.IsRetryable reports true). A rate of them worth alerting
// on means a broken network path or proxy.
var ErrIntegrity = errors.New("gcpkms: integrity check failed")

// integrityError is an [ErrIntegrity] that says which check failed.
type integrityError struct {
	Op    string // "wrap" or "unwrap"
	Check string // what did not match; never key material
}

func (e *integrityError) Error() string {
	return "gcpkms: " + e.Op + ": integrity check failed: " + e.Check + " (data corrupted in transit; retry)"
}

// Is makes errors.Is(err, ErrIntegrity) true.
func (e *integrityError) Is(target error) bool { return target == ErrIntegrity }

// Retryable reports true: see the type's doc.
func (e *integrityError) Retryable() bool { return true }

// rpcFailure is a failed Cloud KMS call. It wraps the gRPC error, so
// status.Code(err) works on it; a retryable one is further marked
// retryable.
type rpcFailure struct {
	Op      string     // "wrap" or "unwrap"
	KeyName string     // the CryptoKey
	Code    codes.Code // the gRPC status code
	Message string     // the service's message
	err     error
}

func (e *rpcFailure) Error() string {
	s := fmt.Sprintf("gcpkms: %s with %s: %s: %s", e.Op, e.KeyName, e.Code, e.Message)
	if h := hint(e.Op, e.Code); h != "" {
		s += " (" + h + ")"
	}
	return s
}

func (e *rpcFailure) Unwrap() error { return e.err }

// retryableCodes are the transient failures: the service is unavailable,
// throttled (quota), out of time on its side, or aborted the call.
var retryableCodes = map[codes.Code]bool{
	codes.Unavailable:       true,
	codes.ResourceExhausted: true,
	codes.DeadlineExceeded:  true,
	codes.Aborted:           true,
	codes.Internal:          true,
}

// hint says what to check for a permanent failure.
func hint(op string, code codes.Code) string {
	switch {
	case retryableCodes[code]:
		return "transient; retry with backoff"
	case code == codes.NotFound:
		return "check the key name, and that its key ring and key exist in that project and location"
	case code == codes.PermissionDenied:
		return "check that the caller has roles/cloudkms.cryptoKeyEncrypterDecrypter on the key, and that the key exists"
	case code == codes.Unauthenticated:
		return "check the credentials: Application Default Credentials, or WithClientOptions"
	case code == codes.FailedPrecondition:
		return "check that the key's primary version is enabled and its purpose is ENCRYPT_DECRYPT"
	case code == codes.InvalidArgument && op == opWrap:
		return "check that the key's purpose is ENCRYPT_DECRYPT and that plaintext and aad are at most 64 KiB"
	}
	return ""
}

// rpcError classifies a failed Encrypt or Decrypt; see the package doc.
func (d *driver) rpcError(ctx context.Context, op string, err error) error {
	// The caller's own cancellation or deadline wins over whatever status
	// the transport reported for it, and is never retryable.
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("gcpkms: %s: %w", op, cerr)
	}
	// The server enforces the caller's deadline too (gRPC sends it along),
	// and its DEADLINE_EXCEEDED can arrive before the context's own timer
	// has marked it done. Past the deadline, it is the caller's.
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return fmt.Errorf("gcpkms: %s: %w", op, context.DeadlineExceeded)
	}
	st, _ := status.FromError(err)
	code, msg := st.Code(), st.Message()
	if code == codes.InvalidArgument {
		// The service found that a request checksum did not match its data.
		// The driver computes each checksum from the very bytes it sends, so
		// the request was corrupted on the way: transient, per Google.
		if strings.Contains(strings.ToLower(msg), "checksum") {
			return &integrityError{Op: op, Check: "the service rejected a request checksum: " + msg}
		}
		// Every other way a ciphertext fails to decrypt is the one opaque
		// error: tampered, another key, other aad, truncated.
		if op == opUnwrap {
			return kms.ErrUnwrap
		}
	}
	e := &rpcFailure{Op: op, KeyName: d.keyName, Code: code, Message: msg, err: err}
	if retryableCodes[code] {
		return kmserr.Retryable(e)
	}
	return e
}
