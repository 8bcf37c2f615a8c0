// Package insecurefakekms is an in-process fake of the Cloud KMS
// KeyManagementService, for tests and examples only. IT IS INSECURE BY
// DESIGN: its master keys are random bytes in process memory, it speaks
// plaintext gRPC on loopback without authentication, and it forgets every
// key when it stops. Never point production data at it.
//
// The fake exists so that colcrypt's Cloud KMS driver (and a user's own
// tests) exercise the real cloud.google.com/go/kms client over a real gRPC
// connection, against a server that checks what the real service checks:
//
//   - key names must be configured CryptoKey resource names
//     (projects/P/locations/L/keyRings/R/cryptoKeys/K), NOT_FOUND otherwise;
//     Encrypt also accepts the name of version 1 of a configured key;
//   - ciphertexts are real AES-256-GCM under a random key per CryptoKey and
//     are bound to the additional authenticated data; a ciphertext that does
//     not authenticate is INVALID_ARGUMENT "Decryption failed: the ciphertext
//     is invalid.", as the service says;
//   - request CRC32C checksums (Castagnoli) are verified (INVALID_ARGUMENT
//     on a mismatch) and required, unless [Faults] says LenientChecksums:
//     the real service accepts a request without them, but a fake that
//     asserts what a client sends catches a client that forgot them;
//     responses carry the checksums and verified_* flags the service
//     returns, and the CryptoKeyVersion name used;
//   - plaintext and additional authenticated data are limited to 64 KiB.
//
// # Faults
//
// [Server.SetFaults] sets latency (a delay that ends early when the
// caller's context does), failures (the next n calls, every call, or an
// even fraction of calls) and response tampering, which breaks response
// integrity fields so a client's checks can be shown to fire. It may be
// called while calls are in flight. [Server.Calls] counts every request
// that reached the server, failed ones included, which is what a KMS bill
// counts.
//
// # Use
//
// With colcrypt's driver imported (import _ "github.com/colcrypt/colcrypt/kms/gcpkms"):
//
//	srv := insecurefakekms.Start(t, "projects/p/locations/global/keyRings/r/cryptoKeys/k")
//	kek, err := kms.Open(ctx, srv.KeyURI("projects/p/locations/global/keyRings/r/cryptoKeys/k"))
package insecurefakekms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"math"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// DefaultKeyName is the CryptoKey a Server holds when it is started without
// key names.
const DefaultKeyName = "projects/insecure-fake/locations/global/keyRings/colcrypt/cryptoKeys/default"

// maxDataSize is the service's limit on plaintext and on additional
// authenticated data for software keys.
const maxDataSize = 64 << 10

// The fake's ciphertext is nonce ‖ AES-GCM ciphertext ‖ tag, so the largest
// one it can have produced is bounded; anything longer is rejected before
// any work.
const (
	nonceSize     = 12
	tagSize       = 16
	maxCiphertext = nonceSize + maxDataSize + tagSize
)

// Messages the real service returns, so that client code matching on them
// is exercised.
const (
	msgDecryptFailed = "Decryption failed: the ciphertext is invalid."
	msgChecksum      = "The checksum in field %s did not match the data in field %s."
)

var (
	cryptoKeyRE        = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)
	cryptoKeyVersionRE = regexp.MustCompile(`^(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)/cryptoKeyVersions/([^/]+)$`)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// Server is the insecure fake Cloud KMS. Its methods are safe for concurrent
// use.
type Server struct {
	svc       *service
	lis       net.Listener
	srv       *grpc.Server
	closeOnce sync.Once
	serveErr  chan error
}

// service implements the KeyManagementService methods the fake serves.
type service struct {
	kmspb.UnimplementedKeyManagementServiceServer

	keys map[string]cipher.AEAD // CryptoKey name → AEAD; fixed after New

	encryptCalls atomic.Int64
	decryptCalls atomic.Int64

	mu       sync.Mutex
	faults   Faults
	failNext int   // calls left of faults.FailNext
	rateSeen int64 // calls seen under faults.FailureRate
}

// Compile-time check that the fake implements the service.
var _ kmspb.KeyManagementServiceServer = (*service)(nil)

// New starts a fake serving the given CryptoKey names (DefaultKeyName if
// none) on a loopback port. The caller must Close it. Tests should use
// [Start].
func New(keyNames ...string) (*Server, error) {
	if len(keyNames) == 0 {
		keyNames = []string{DefaultKeyName}
	}
	svc := &service{keys: make(map[string]cipher.AEAD, len(keyNames))}
	for _, name := range keyNames {
		if !cryptoKeyRE.MatchString(name) {
			return nil, fmt.Errorf("insecurefakekms: %q is not a CryptoKey name (projects/P/locations/L/keyRings/R/cryptoKeys/K)", name)
		}
		if _, dup := svc.keys[name]; dup {
			return nil, fmt.Errorf("insecurefakekms: key %q given twice", name)
		}
		key := make([]byte, 32)
		rand.Read(key)
		block, err := aes.NewCipher(key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("insecurefakekms: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("insecurefakekms: %w", err)
		}
		svc.keys[name] = aead
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("insecurefakekms: listen: %w", err)
	}
	s := &Server{svc: svc, lis: lis, srv: grpc.NewServer(), serveErr: make(chan error, 1)}
	kmspb.RegisterKeyManagementServiceServer(s.srv, svc)
	go func() { s.serveErr <- s.srv.Serve(lis) }()
	return s, nil
}

// Start is New for tests: it fails tb on error and stops the server in
// tb.Cleanup.
func Start(tb testing.TB, keyNames ...string) *Server {
	tb.Helper()
	s, err := New(keyNames...)
	if err != nil {
		tb.Fatalf("insecurefakekms.Start: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Close stops the server and drops its connections. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.srv.Stop()
		<-s.serveErr
	})
	return nil
}

// Endpoint is the server's loopback address, host:port, to give a Cloud
// KMS client (option.WithEndpoint, gcpkms.WithEndpoint).
func (s *Server) Endpoint() string { return s.lis.Addr().String() }

// KeyURI is a colcrypt gcpkms URL for the CryptoKey name, pointing at this
// server over plaintext gRPC, for kms.Open. The name need not be one the
// server holds (calls with it then fail NOT_FOUND, as the service would).
func (s *Server) KeyURI(name string) string {
	return "gcpkms://" + name + "?endpoint=" + s.Endpoint() + "&insecure=true"
}

// Calls returns the number of Encrypt and Decrypt requests received so far,
// failed ones included. Take the difference of two readings to count the
// calls of one step.
func (s *Server) Calls() (encrypt, decrypt int64) {
	return s.svc.encryptCalls.Load(), s.svc.decryptCalls.Load()
}

// Faults is how the server misbehaves; the zero Faults is an honest server
// that requires request checksums. Failures are injected after the
// latency, and at most one applies to a call: FailAll, else FailNext, else
// FailureRate.
type Faults struct {
	// Latency delays every call before it is handled. The delay ends
	// early, with the context's error, when the caller's deadline passes or
	// it cancels.
	Latency time.Duration

	// FailAll, unless codes.OK, fails every call with that code.
	FailAll codes.Code
	// FailNext fails the next FailNext calls with FailNextCode.
	FailNext     int
	FailNextCode codes.Code
	// FailureRate fails a fraction (0 ≤ FailureRate ≤ 1) of calls with
	// FailureRateCode. Failures are spread evenly and deterministically
	// rather than drawn at random, so a test sees the same sequence every
	// run: with 0.5 every second call fails, with 0.25 every fourth.
	FailureRate     float64
	FailureRateCode codes.Code

	// LenientChecksums accepts requests without CRC32C checksums, as the
	// real service does. By default the server rejects, with
	// INVALID_ARGUMENT, a request that omits a checksum the client could
	// have sent (plaintext_crc32c on Encrypt, ciphertext_crc32c on Decrypt,
	// the additional authenticated data's whenever that data is not empty),
	// to prove a client sends them. A checksum that is sent is always
	// checked.
	LenientChecksums bool

	// Response tampering, to show that a client checks the integrity fields
	// as Google's data-integrity guidelines ask
	// (https://cloud.google.com/kms/docs/data-integrity-guidelines).

	// BadCiphertextCRC32C returns an Encrypt ciphertext_crc32c that does
	// not match the ciphertext.
	BadCiphertextCRC32C bool
	// OmitCiphertextCRC32C leaves Encrypt's ciphertext_crc32c unset.
	OmitCiphertextCRC32C bool
	// CorruptCiphertext flips a bit of Encrypt's ciphertext after its
	// checksum is computed, as corruption in transit would.
	CorruptCiphertext bool
	// OmitVerifiedPlaintextCRC32C reports verified_plaintext_crc32c false,
	// as a server that ignored the request checksum would.
	OmitVerifiedPlaintextCRC32C bool
	// OmitVerifiedAADCRC32C reports
	// verified_additional_authenticated_data_crc32c false.
	OmitVerifiedAADCRC32C bool
	// WrongKeyName names a version of another CryptoKey whose name has the
	// requested one as a prefix ("…/cryptoKeys/k-other/cryptoKeyVersions/1"),
	// which a naive prefix check would accept.
	WrongKeyName bool
	// BadPlaintextCRC32C returns a Decrypt plaintext_crc32c that does not
	// match the plaintext.
	BadPlaintextCRC32C bool
	// OmitPlaintextCRC32C leaves Decrypt's plaintext_crc32c unset.
	OmitPlaintextCRC32C bool
	// CorruptPlaintext flips a bit of Decrypt's plaintext after its
	// checksum is computed.
	CorruptPlaintext bool
}

// SetFaults replaces every fault set before with f, for later calls (calls
// in flight may see either). It panics if f.FailureRate is outside [0, 1],
// a programmer error.
func (s *Server) SetFaults(f Faults) {
	if !(f.FailureRate >= 0 && f.FailureRate <= 1) {
		panic(fmt.Sprintf("insecurefakekms: SetFaults: FailureRate %v must be in [0, 1]", f.FailureRate))
	}
	s.svc.mu.Lock()
	defer s.svc.mu.Unlock()
	s.svc.faults, s.svc.failNext, s.svc.rateSeen = f, f.FailNext, 0
}

func (s *service) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// fault applies latency and injected failures, in that order, to one call.
func (s *service) fault(ctx context.Context) error {
	if d := s.currentFaults().Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	switch {
	case f.FailAll != codes.OK:
		return injected(f.FailAll)
	case s.failNext > 0:
		s.failNext--
		return injected(f.FailNextCode)
	case f.FailureRate > 0:
		n := s.rateSeen
		s.rateSeen++
		if math.Floor(float64(n+1)*f.FailureRate) > math.Floor(float64(n)*f.FailureRate) {
			return injected(f.FailureRateCode)
		}
	}
	return nil
}

func injected(code codes.Code) error {
	return status.Errorf(code, "insecurefakekms: injected fault (%s)", code)
}

// checkCRC verifies an optional request checksum. It reports whether the
// checksum was present (and so verified).
func checkCRC(data []byte, sum *wrapperspb.Int64Value, sumField, dataField string, required bool) (bool, error) {
	if sum == nil {
		if required {
			return false, status.Errorf(codes.InvalidArgument, "insecurefakekms: strict mode: %s is required", sumField)
		}
		return false, nil
	}
	if v := sum.GetValue(); v < 0 || v > math.MaxUint32 {
		return false, status.Errorf(codes.InvalidArgument, "%s must be in [0, 2^32-1]", sumField)
	}
	if sum.GetValue() != crc32c(data) {
		return false, status.Errorf(codes.InvalidArgument, msgChecksum, sumField, dataField)
	}
	return true, nil
}

// cryptoKey resolves a CryptoKey name to its AEAD.
func (s *service) cryptoKey(name string) (cipher.AEAD, error) {
	if !cryptoKeyRE.MatchString(name) {
		return nil, status.Errorf(codes.InvalidArgument, "Resource name [%s] does not represent a valid CryptoKey.", name)
	}
	aead, ok := s.keys[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "CryptoKey %s not found.", name)
	}
	return aead, nil
}

// Encrypt implements the service's Encrypt: AES-256-GCM under the named
// key's version 1, bound to the additional authenticated data.
func (s *service) Encrypt(ctx context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	s.encryptCalls.Add(1)
	if err := s.fault(ctx); err != nil {
		return nil, err
	}
	name := req.GetName()
	if m := cryptoKeyVersionRE.FindStringSubmatch(name); m != nil {
		if m[2] != "1" {
			return nil, status.Errorf(codes.NotFound, "CryptoKeyVersion %s not found.", name)
		}
		name = m[1]
	}
	aead, err := s.cryptoKey(name)
	if err != nil {
		return nil, err
	}
	pt, aad := req.GetPlaintext(), req.GetAdditionalAuthenticatedData()
	switch {
	case len(pt) == 0:
		return nil, status.Error(codes.InvalidArgument, "Plaintext is required.")
	case len(pt) > maxDataSize:
		return nil, status.Errorf(codes.InvalidArgument, "The plaintext must be no larger than %d bytes.", maxDataSize)
	case len(aad) > maxDataSize:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be no larger than %d bytes.", maxDataSize)
	}
	strict := !s.currentFaults().LenientChecksums
	verifiedPT, err := checkCRC(pt, req.GetPlaintextCrc32C(), "plaintext_crc32c", "plaintext", strict)
	if err != nil {
		return nil, err
	}
	verifiedAAD, err := checkCRC(aad, req.GetAdditionalAuthenticatedDataCrc32C(),
		"additional_authenticated_data_crc32c", "additional_authenticated_data", strict && len(aad) > 0)
	if err != nil {
		return nil, err
	}

	ct := make([]byte, nonceSize, nonceSize+len(pt)+tagSize)
	rand.Read(ct)
	ct = aead.Seal(ct, ct[:nonceSize], pt, aad)
	resp := &kmspb.EncryptResponse{
		Name:                    name + "/cryptoKeyVersions/1",
		Ciphertext:              ct,
		CiphertextCrc32C:        wrapperspb.Int64(crc32c(ct)),
		VerifiedPlaintextCrc32C: verifiedPT,
		VerifiedAdditionalAuthenticatedDataCrc32C: verifiedAAD,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}
	s.tamperEncrypt(resp)
	return resp, nil
}

// Decrypt implements the service's Decrypt. Every way a ciphertext can fail
// to authenticate gives the same INVALID_ARGUMENT, as the service does.
func (s *service) Decrypt(ctx context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	s.decryptCalls.Add(1)
	if err := s.fault(ctx); err != nil {
		return nil, err
	}
	aead, err := s.cryptoKey(req.GetName())
	if err != nil {
		return nil, err
	}
	ct, aad := req.GetCiphertext(), req.GetAdditionalAuthenticatedData()
	switch {
	case len(ct) == 0:
		return nil, status.Error(codes.InvalidArgument, "Ciphertext is required.")
	case len(ct) > maxCiphertext:
		return nil, status.Errorf(codes.InvalidArgument, "The ciphertext must be no larger than %d bytes.", maxCiphertext)
	case len(aad) > maxDataSize:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be no larger than %d bytes.", maxDataSize)
	}
	strict := !s.currentFaults().LenientChecksums
	if _, err := checkCRC(ct, req.GetCiphertextCrc32C(), "ciphertext_crc32c", "ciphertext", strict); err != nil {
		return nil, err
	}
	if _, err := checkCRC(aad, req.GetAdditionalAuthenticatedDataCrc32C(),
		"additional_authenticated_data_crc32c", "additional_authenticated_data", strict && len(aad) > 0); err != nil {
		return nil, err
	}
	if len(ct) < nonceSize+tagSize {
		return nil, status.Error(codes.InvalidArgument, msgDecryptFailed)
	}
	pt, err := aead.Open(nil, ct[:nonceSize], ct[nonceSize:], aad)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, msgDecryptFailed)
	}
	resp := &kmspb.DecryptResponse{
		Plaintext:       pt,
		PlaintextCrc32C: wrapperspb.Int64(crc32c(pt)),
		UsedPrimary:     true,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}
	s.tamperDecrypt(resp)
	return resp, nil
}
