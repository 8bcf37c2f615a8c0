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
//   - request CRC32C checksums (Castagnoli) are verified when present
//     (INVALID_ARGUMENT on a mismatch) and, with [Server.SetRequireChecksums],
//     required; responses carry the checksums and verified_* flags the
//     service returns, and the CryptoKeyVersion name used;
//   - plaintext and additional authenticated data are limited to 64 KiB.
//
// # Faults
//
// Every fault can be changed while calls are in flight: [Server.SetLatency]
// (a delay that ends early when the caller's context does),
// [Server.FailNext], [Server.SetFailureMode], [Server.SetFailureRate] and
// [Server.SetResponseTampering], which breaks response integrity fields so a
// client's checks can be shown to fire. [Server.EncryptCalls] and
// [Server.DecryptCalls] count every request that reached the server,
// failed ones included, which is what a KMS bill counts.
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

// MaxDataSize is the service's limit on plaintext and on additional
// authenticated data for software keys.
const MaxDataSize = 64 << 10

// The fake's ciphertext is nonce ‖ AES-GCM ciphertext ‖ tag, so the largest
// one it can have produced is bounded; anything longer is rejected before
// any work.
const (
	nonceSize     = 12
	tagSize       = 16
	maxCiphertext = nonceSize + MaxDataSize + tagSize
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
	kmspb.UnimplementedKeyManagementServiceServer

	keys  map[string]cipher.AEAD // CryptoKey name → AEAD; fixed after New
	names []string

	lis       net.Listener
	srv       *grpc.Server
	closeOnce sync.Once
	serveErr  chan error

	encryptCalls atomic.Int64
	decryptCalls atomic.Int64

	mu       sync.Mutex
	latency  time.Duration
	failN    int
	failNErr codes.Code
	failAll  bool
	failCode codes.Code
	rate     float64
	rateCode codes.Code
	rateSeen int64
	tamper   Tampering
	strict   bool
}

// Compile-time check that the fake implements the service.
var _ kmspb.KeyManagementServiceServer = (*Server)(nil)

// New starts a fake serving the given CryptoKey names (DefaultKeyName if
// none) on a loopback port. The caller must Close it. Tests should use
// [Start].
func New(keyNames ...string) (*Server, error) {
	if len(keyNames) == 0 {
		keyNames = []string{DefaultKeyName}
	}
	s := &Server{keys: make(map[string]cipher.AEAD, len(keyNames)), serveErr: make(chan error, 1)}
	for _, name := range keyNames {
		if !cryptoKeyRE.MatchString(name) {
			return nil, fmt.Errorf("insecurefakekms: %q is not a CryptoKey name (projects/P/locations/L/keyRings/R/cryptoKeys/K)", name)
		}
		if _, dup := s.keys[name]; dup {
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
		s.keys[name] = aead
		s.names = append(s.names, name)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("insecurefakekms: listen: %w", err)
	}
	s.lis = lis
	s.srv = grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(s.srv, s)
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

// Addr is the server's loopback address, host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Endpoint is the address to give a Cloud KMS client (option.WithEndpoint,
// gcpkms.WithEndpoint); it is the same as Addr.
func (s *Server) Endpoint() string { return s.Addr() }

// KeyNames lists the CryptoKey names the server holds, in the order given.
func (s *Server) KeyNames() []string { return append([]string(nil), s.names...) }

// KeyURI is a colcrypt gcpkms URL for the CryptoKey name, pointing at this
// server over plaintext gRPC, for kms.Open. The name need not be one the
// server holds (calls with it then fail NOT_FOUND, as the service would).
func (s *Server) KeyURI(name string) string {
	return "gcpkms://" + name + "?endpoint=" + s.Addr() + "&insecure=true"
}

// EncryptCalls is the number of Encrypt requests received, failed ones
// included.
func (s *Server) EncryptCalls() int64 { return s.encryptCalls.Load() }

// DecryptCalls is the number of Decrypt requests received, failed ones
// included.
func (s *Server) DecryptCalls() int64 { return s.decryptCalls.Load() }

// ResetCounts sets both call counters to zero.
func (s *Server) ResetCounts() {
	s.encryptCalls.Store(0)
	s.decryptCalls.Store(0)
}

// SetLatency delays every later call by d before it is handled. The delay
// ends early, with the context's error, when the caller's deadline passes or
// it cancels. Zero removes the delay.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext makes the next n calls (Encrypt or Decrypt) fail with code,
// after any latency.
func (s *Server) FailNext(n int, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failNErr = n, code
}

// SetFailureMode makes every call fail with code until [Server.ClearFailures].
func (s *Server) SetFailureMode(code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll, s.failCode = true, code
}

// SetFailureRate makes a fraction p (0 ≤ p ≤ 1) of later calls fail with
// code. Failures are spread evenly and deterministically rather than drawn
// at random, so a test sees the same sequence every run: with p = 0.5 every
// second call fails, with p = 0.25 every fourth. It panics if p is out of
// range.
func (s *Server) SetFailureRate(p float64, code codes.Code) {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("insecurefakekms: SetFailureRate(%v): p must be in [0, 1]", p))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate, s.rateCode, s.rateSeen = p, code, 0
}

// ClearFailures removes FailNext, SetFailureMode and SetFailureRate faults.
// Latency and tampering stay as set.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failAll, s.rate, s.rateSeen = 0, false, 0, 0
}

// SetRequireChecksums makes the server reject, with INVALID_ARGUMENT, a
// request that omits a CRC32C the client could have sent: plaintext_crc32c
// on Encrypt, ciphertext_crc32c on Decrypt, and the additional
// authenticated data's checksum whenever that data is not empty. The real
// service accepts requests without checksums; this strict mode exists to
// prove a client sends them.
func (s *Server) SetRequireChecksums(strict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strict = strict
}

// fault applies latency and injected failures, in that order, to one call.
func (s *Server) fault(ctx context.Context) error {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
	if d > 0 {
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
	switch {
	case s.failAll:
		return injected(s.failCode)
	case s.failN > 0:
		s.failN--
		return injected(s.failNErr)
	case s.rate > 0:
		n := s.rateSeen
		s.rateSeen++
		if math.Floor(float64(n+1)*s.rate) > math.Floor(float64(n)*s.rate) {
			return injected(s.rateCode)
		}
	}
	return nil
}

func injected(code codes.Code) error {
	return status.Errorf(code, "insecurefakekms: injected fault (%s)", code)
}

func (s *Server) isStrict() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.strict
}

// checkCRC verifies an optional request checksum. It reports whether the
// checksum was present (and so verified).
func (s *Server) checkCRC(data []byte, sum *wrapperspb.Int64Value, sumField, dataField string, required bool) (bool, error) {
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
func (s *Server) cryptoKey(name string) (cipher.AEAD, error) {
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
func (s *Server) Encrypt(ctx context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
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
	case len(pt) > MaxDataSize:
		return nil, status.Errorf(codes.InvalidArgument, "The plaintext must be no larger than %d bytes.", MaxDataSize)
	case len(aad) > MaxDataSize:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be no larger than %d bytes.", MaxDataSize)
	}
	strict := s.isStrict()
	verifiedPT, err := s.checkCRC(pt, req.GetPlaintextCrc32C(), "plaintext_crc32c", "plaintext", strict)
	if err != nil {
		return nil, err
	}
	verifiedAAD, err := s.checkCRC(aad, req.GetAdditionalAuthenticatedDataCrc32C(),
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
func (s *Server) Decrypt(ctx context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
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
	case len(aad) > MaxDataSize:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be no larger than %d bytes.", MaxDataSize)
	}
	strict := s.isStrict()
	if _, err := s.checkCRC(ct, req.GetCiphertextCrc32C(), "ciphertext_crc32c", "ciphertext", strict); err != nil {
		return nil, err
	}
	if _, err := s.checkCRC(aad, req.GetAdditionalAuthenticatedDataCrc32C(),
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
