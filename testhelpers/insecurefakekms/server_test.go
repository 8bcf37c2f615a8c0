package insecurefakekms_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

const (
	key1 = "projects/p/locations/global/keyRings/r/cryptoKeys/k1"
	key2 = "projects/p/locations/global/keyRings/r/cryptoKeys/k2"
)

// These tests talk to the fake with the bare generated gRPC client, so they
// check the wire behaviour without colcrypt's driver in the way.
func start(t *testing.T) (*insecurefakekms.Server, kmspb.KeyManagementServiceClient) {
	t.Helper()
	srv := insecurefakekms.Start(t, key1, key2)
	conn, err := grpc.NewClient(srv.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return srv, kmspb.NewKeyManagementServiceClient(conn)
}

func crc(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))))
}

var (
	pt  = []byte("a data key, thirty-two bytes....")
	aad = []byte("colcrypt/dek/v1 tenant-a 1")
)

func encReq(name string) *kmspb.EncryptRequest {
	return &kmspb.EncryptRequest{Name: name, Plaintext: pt, PlaintextCrc32C: crc(pt),
		AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crc(aad)}
}

func decReq(name string, ct []byte) *kmspb.DecryptRequest {
	return &kmspb.DecryptRequest{Name: name, Ciphertext: ct, CiphertextCrc32C: crc(ct),
		AdditionalAuthenticatedData: aad, AdditionalAuthenticatedDataCrc32C: crc(aad)}
}

func encrypt(t *testing.T, c kmspb.KeyManagementServiceClient) []byte {
	t.Helper()
	resp, err := c.Encrypt(t.Context(), encReq(key1))
	if err != nil {
		t.Fatalf("Encrypt err = %v", err)
	}
	return resp.Ciphertext
}

// wantStatus checks err's gRPC code and that its message contains msg.
func wantStatus(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Errorf("%s err = %v, want %s containing %q", what, err, code, msg)
	}
}

func TestRoundTripResponseFields(t *testing.T) {
	srv, c := start(t)
	ctx := t.Context()
	eresp, err := c.Encrypt(ctx, encReq(key1))
	if err != nil {
		t.Fatalf("Encrypt err = %v", err)
	}
	if eresp.Name != key1+"/cryptoKeyVersions/1" {
		t.Errorf("EncryptResponse.Name = %q, want %q", eresp.Name, key1+"/cryptoKeyVersions/1")
	}
	if !eresp.VerifiedPlaintextCrc32C || !eresp.VerifiedAdditionalAuthenticatedDataCrc32C {
		t.Errorf("verified flags = %v, %v; want true, true", eresp.VerifiedPlaintextCrc32C, eresp.VerifiedAdditionalAuthenticatedDataCrc32C)
	}
	if eresp.CiphertextCrc32C.GetValue() != crc(eresp.Ciphertext).Value {
		t.Errorf("ciphertext_crc32c = %v, want the ciphertext's", eresp.CiphertextCrc32C)
	}
	if bytes.Contains(eresp.Ciphertext, pt) {
		t.Errorf("ciphertext contains the plaintext")
	}
	if eresp.ProtectionLevel != kmspb.ProtectionLevel_SOFTWARE {
		t.Errorf("ProtectionLevel = %v, want SOFTWARE", eresp.ProtectionLevel)
	}
	dresp, err := c.Decrypt(ctx, decReq(key1, eresp.Ciphertext))
	if err != nil {
		t.Fatalf("Decrypt err = %v", err)
	}
	if !bytes.Equal(dresp.Plaintext, pt) || dresp.PlaintextCrc32C.GetValue() != crc(pt).Value || !dresp.UsedPrimary {
		t.Errorf("Decrypt = %q crc %v primary %v, want the plaintext, its crc, true", dresp.Plaintext, dresp.PlaintextCrc32C, dresp.UsedPrimary)
	}

	// Without checksums the lenient server works, as the service does, and
	// says it verified nothing.
	srv.SetFaults(insecurefakekms.Faults{LenientChecksums: true})
	eresp, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key1, Plaintext: pt, AdditionalAuthenticatedData: aad})
	if err != nil {
		t.Fatalf("Encrypt without checksums err = %v", err)
	}
	if eresp.VerifiedPlaintextCrc32C || eresp.VerifiedAdditionalAuthenticatedDataCrc32C {
		t.Errorf("verified flags without checksums = true, want false")
	}
	if _, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key1, Ciphertext: eresp.Ciphertext, AdditionalAuthenticatedData: aad}); err != nil {
		t.Errorf("Decrypt without checksums err = %v", err)
	}
}

func TestNames(t *testing.T) {
	_, c := start(t)
	ctx := t.Context()
	ct := encrypt(t, c)

	if _, err := c.Encrypt(ctx, encReq(key1+"/cryptoKeyVersions/1")); err != nil {
		t.Errorf("Encrypt(version 1 name) err = %v, want nil", err)
	}
	_, err := c.Encrypt(ctx, encReq(key1+"/cryptoKeyVersions/2"))
	wantStatus(t, "Encrypt(version 2)", err, codes.NotFound, "not found")
	_, err = c.Encrypt(ctx, encReq("projects/p/locations/global/keyRings/r/cryptoKeys/nope"))
	wantStatus(t, "Encrypt(unknown key)", err, codes.NotFound, "not found")
	_, err = c.Encrypt(ctx, encReq("projects/p/keyRings/r"))
	wantStatus(t, "Encrypt(malformed name)", err, codes.InvalidArgument, "valid CryptoKey")
	_, err = c.Decrypt(ctx, decReq("projects/p/locations/global/keyRings/r/cryptoKeys/nope", ct))
	wantStatus(t, "Decrypt(unknown key)", err, codes.NotFound, "not found")
	_, err = c.Decrypt(ctx, decReq(key1+"/cryptoKeyVersions/1", ct))
	wantStatus(t, "Decrypt(version name)", err, codes.InvalidArgument, "valid CryptoKey")
}

func TestCiphertextAuthentication(t *testing.T) {
	_, c := start(t)
	ctx := t.Context()
	ct := encrypt(t, c)
	const msg = "Decryption failed: the ciphertext is invalid."

	wrongAAD := decReq(key1, ct)
	wrongAAD.AdditionalAuthenticatedData = []byte("colcrypt/dek/v1 tenant-b 1")
	wrongAAD.AdditionalAuthenticatedDataCrc32C = crc(wrongAAD.AdditionalAuthenticatedData)
	_, err := c.Decrypt(ctx, wrongAAD)
	wantStatus(t, "Decrypt(wrong aad)", err, codes.InvalidArgument, msg)

	_, err = c.Decrypt(ctx, decReq(key2, ct))
	wantStatus(t, "Decrypt(other key)", err, codes.InvalidArgument, msg)

	for i := range ct {
		b := bytes.Clone(ct)
		b[i] ^= 0x80
		_, err = c.Decrypt(ctx, decReq(key1, b))
		wantStatus(t, "Decrypt(byte flipped)", err, codes.InvalidArgument, msg)
	}
	_, err = c.Decrypt(ctx, decReq(key1, ct[:20]))
	wantStatus(t, "Decrypt(truncated)", err, codes.InvalidArgument, msg)
}

func TestRequestChecksums(t *testing.T) {
	srv, c := start(t)
	ctx := t.Context()
	ct := encrypt(t, c)
	bad := func(v *wrapperspb.Int64Value) *wrapperspb.Int64Value { return wrapperspb.Int64(v.Value ^ 1) }

	e := encReq(key1)
	e.PlaintextCrc32C = bad(e.PlaintextCrc32C)
	_, err := c.Encrypt(ctx, e)
	wantStatus(t, "Encrypt(bad plaintext_crc32c)", err, codes.InvalidArgument, "checksum in field plaintext_crc32c did not match")
	e = encReq(key1)
	e.AdditionalAuthenticatedDataCrc32C = bad(e.AdditionalAuthenticatedDataCrc32C)
	_, err = c.Encrypt(ctx, e)
	wantStatus(t, "Encrypt(bad aad crc32c)", err, codes.InvalidArgument, "checksum in field additional_authenticated_data_crc32c did not match")
	e = encReq(key1)
	e.PlaintextCrc32C = wrapperspb.Int64(-1)
	_, err = c.Encrypt(ctx, e)
	wantStatus(t, "Encrypt(negative crc32c)", err, codes.InvalidArgument, "plaintext_crc32c must be in")
	d := decReq(key1, ct)
	d.CiphertextCrc32C = bad(d.CiphertextCrc32C)
	_, err = c.Decrypt(ctx, d)
	wantStatus(t, "Decrypt(bad ciphertext_crc32c)", err, codes.InvalidArgument, "checksum in field ciphertext_crc32c did not match")
	d = decReq(key1, ct)
	d.AdditionalAuthenticatedDataCrc32C = bad(d.AdditionalAuthenticatedDataCrc32C)
	_, err = c.Decrypt(ctx, d)
	wantStatus(t, "Decrypt(bad aad crc32c)", err, codes.InvalidArgument, "checksum in field additional_authenticated_data_crc32c did not match")

	// By default each missing checksum is refused.
	e = encReq(key1)
	e.PlaintextCrc32C = nil
	_, err = c.Encrypt(ctx, e)
	wantStatus(t, "strict Encrypt(no plaintext_crc32c)", err, codes.InvalidArgument, "plaintext_crc32c is required")
	e = encReq(key1)
	e.AdditionalAuthenticatedDataCrc32C = nil
	_, err = c.Encrypt(ctx, e)
	wantStatus(t, "strict Encrypt(no aad crc32c)", err, codes.InvalidArgument, "additional_authenticated_data_crc32c is required")
	d = decReq(key1, ct)
	d.CiphertextCrc32C = nil
	_, err = c.Decrypt(ctx, d)
	wantStatus(t, "strict Decrypt(no ciphertext_crc32c)", err, codes.InvalidArgument, "ciphertext_crc32c is required")
	d = decReq(key1, ct)
	d.AdditionalAuthenticatedDataCrc32C = nil
	_, err = c.Decrypt(ctx, d)
	wantStatus(t, "strict Decrypt(no aad crc32c)", err, codes.InvalidArgument, "additional_authenticated_data_crc32c is required")
	// No aad, no aad checksum needed.
	if _, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key1, Plaintext: pt, PlaintextCrc32C: crc(pt)}); err != nil {
		t.Errorf("strict Encrypt(no aad) err = %v, want nil", err)
	}
	srv.SetFaults(insecurefakekms.Faults{LenientChecksums: true})
	e = encReq(key1)
	e.PlaintextCrc32C = nil
	if _, err := c.Encrypt(ctx, e); err != nil {
		t.Errorf("lenient Encrypt(no checksum) err = %v, want nil", err)
	}
	e = encReq(key1)
	e.PlaintextCrc32C = bad(e.PlaintextCrc32C)
	_, err = c.Encrypt(ctx, e)
	wantStatus(t, "lenient Encrypt(bad plaintext_crc32c)", err, codes.InvalidArgument, "checksum in field plaintext_crc32c did not match")
}

func TestSizeLimits(t *testing.T) {
	srv, c := start(t)
	srv.SetFaults(insecurefakekms.Faults{LenientChecksums: true})
	ctx := t.Context()
	big := make([]byte, 64<<10)
	resp, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key1, Plaintext: big})
	if err != nil {
		t.Fatalf("Encrypt(64 KiB) err = %v, want nil", err)
	}
	if _, err := c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key1, Ciphertext: resp.Ciphertext}); err != nil {
		t.Errorf("Decrypt(64 KiB ciphertext) err = %v, want nil", err)
	}
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key1, Plaintext: append(big, 0)})
	wantStatus(t, "Encrypt(64 KiB + 1)", err, codes.InvalidArgument, "no larger than")
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key1, Plaintext: pt, AdditionalAuthenticatedData: append(big, 0)})
	wantStatus(t, "Encrypt(aad 64 KiB + 1)", err, codes.InvalidArgument, "no larger than")
	_, err = c.Encrypt(ctx, &kmspb.EncryptRequest{Name: key1})
	wantStatus(t, "Encrypt(empty)", err, codes.InvalidArgument, "Plaintext is required")
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key1})
	wantStatus(t, "Decrypt(empty)", err, codes.InvalidArgument, "Ciphertext is required")
	_, err = c.Decrypt(ctx, &kmspb.DecryptRequest{Name: key1, Ciphertext: make([]byte, 2*len(big))})
	wantStatus(t, "Decrypt(128 KiB)", err, codes.InvalidArgument, "no larger than")
}

func TestCounts(t *testing.T) {
	srv, c := start(t)
	ctx := t.Context()
	ct := encrypt(t, c)
	encrypt(t, c)
	c.Decrypt(ctx, decReq(key1, ct))
	srv.SetFaults(insecurefakekms.Faults{FailNext: 1, FailNextCode: codes.Unavailable})
	c.Decrypt(ctx, decReq(key1, ct)) // failed calls count too
	if e, d := srv.Calls(); e != 2 || d != 2 {
		t.Errorf("Calls() = %d encrypt, %d decrypt; want 2, 2", e, d)
	}
}

// outcomes runs n Encrypts and returns the code of each.
func outcomes(t *testing.T, c kmspb.KeyManagementServiceClient, n int) []codes.Code {
	t.Helper()
	var out []codes.Code
	for range n {
		_, err := c.Encrypt(t.Context(), encReq(key1))
		out = append(out, status.Code(err))
	}
	return out
}

func equalCodes(a, b []codes.Code) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaults(t *testing.T) {
	const ok, un, re, de = codes.OK, codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded
	type F = insecurefakekms.Faults
	tests := []struct {
		name   string
		faults []F // set in order
		want   []codes.Code
	}{
		{"none", nil, []codes.Code{ok, ok, ok}},
		{"FailNext(2)", []F{{FailNext: 2, FailNextCode: un}}, []codes.Code{un, un, ok, ok}},
		{"FailAll", []F{{FailAll: re}}, []codes.Code{re, re, re, re}},
		{"FailAll over FailNext", []F{{FailNext: 1, FailNextCode: un, FailAll: de}}, []codes.Code{de, de}},
		{"FailNext over FailureRate", []F{{FailNext: 1, FailNextCode: un, FailureRate: 1, FailureRateCode: re}}, []codes.Code{un, re}},
		{"FailureRate(0.5)", []F{{FailureRate: 0.5, FailureRateCode: re}}, []codes.Code{ok, re, ok, re, ok, re}},
		{"FailureRate(0.25)", []F{{FailureRate: 0.25, FailureRateCode: un}}, []codes.Code{ok, ok, ok, un, ok, ok, ok, un}},
		{"FailureRate(1)", []F{{FailureRate: 1, FailureRateCode: codes.Aborted}}, []codes.Code{codes.Aborted, codes.Aborted}},
		{"FailureRate(0)", []F{{FailureRate: 0, FailureRateCode: un}}, []codes.Code{ok, ok, ok}},
		{"replaced by zero Faults", []F{{FailNext: 5, FailNextCode: un, FailAll: un, FailureRate: 1, FailureRateCode: un}, {}}, []codes.Code{ok, ok}},
		{"FailNext restarts", []F{{FailNext: 1, FailNextCode: un}, {FailNext: 1, FailNextCode: re}}, []codes.Code{re, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := start(t)
			for _, f := range tt.faults {
				srv.SetFaults(f)
			}
			if got := outcomes(t, c, len(tt.want)); !equalCodes(got, tt.want) {
				t.Errorf("codes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFailureRateOutOfRangePanics(t *testing.T) {
	srv := insecurefakekms.Start(t)
	for _, p := range []float64{-0.1, 1.1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetFaults(FailureRate: %v) did not panic", p)
				}
			}()
			srv.SetFaults(insecurefakekms.Faults{FailureRate: p, FailureRateCode: codes.Unavailable})
		}()
	}
}

// TestLatencyRespectsContext sets a latency far beyond the caller's
// deadline. The watchdog guards against a hang; it measures nothing.
func TestLatencyRespectsContext(t *testing.T) {
	srv, c := start(t)
	srv.SetFaults(insecurefakekms.Faults{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Encrypt(ctx, encReq(key1))
		done <- err
	}()
	select {
	case err := <-done:
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("Encrypt past deadline err = %v, want DeadlineExceeded", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Encrypt with an expired deadline did not return")
	}
	srv.SetFaults(insecurefakekms.Faults{})
	encrypt(t, c)
}

func TestTampering(t *testing.T) {
	srv, c := start(t)
	ctx := t.Context()
	type T = insecurefakekms.Faults
	srv.SetFaults(T{BadCiphertextCRC32C: true, OmitVerifiedPlaintextCRC32C: true, OmitVerifiedAADCRC32C: true, WrongKeyName: true})
	e, err := c.Encrypt(ctx, encReq(key1))
	if err != nil {
		t.Fatal(err)
	}
	if e.CiphertextCrc32C.GetValue() == crc(e.Ciphertext).Value || e.VerifiedPlaintextCrc32C || e.VerifiedAdditionalAuthenticatedDataCrc32C ||
		e.Name != "projects/p/locations/global/keyRings/r/cryptoKeys/k1-other/cryptoKeyVersions/1" {
		t.Errorf("tampered EncryptResponse = %v, want bad crc, false flags, another key's name", e)
	}
	srv.SetFaults(T{OmitCiphertextCRC32C: true})
	if e, _ := c.Encrypt(ctx, encReq(key1)); e.GetCiphertextCrc32C() != nil {
		t.Errorf("OmitCiphertextCRC32C: ciphertext_crc32c = %v, want unset", e.GetCiphertextCrc32C())
	}
	srv.SetFaults(T{CorruptCiphertext: true})
	e, _ = c.Encrypt(ctx, encReq(key1))
	if e.GetCiphertextCrc32C().GetValue() == crc(e.GetCiphertext()).Value {
		t.Errorf("CorruptCiphertext: ciphertext matches its checksum, want a mismatch")
	}
	if _, err := c.Decrypt(ctx, decReq(key1, e.GetCiphertext())); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Decrypt(corrupted ciphertext) err = %v, want InvalidArgument", err)
	}

	srv.SetFaults(T{})
	ct := encrypt(t, c)
	for _, tt := range []struct {
		tamper T
		check  func(*kmspb.DecryptResponse) bool
	}{
		{T{BadPlaintextCRC32C: true}, func(d *kmspb.DecryptResponse) bool {
			return bytes.Equal(d.Plaintext, pt) && d.PlaintextCrc32C.GetValue() != crc(pt).Value
		}},
		{T{OmitPlaintextCRC32C: true}, func(d *kmspb.DecryptResponse) bool { return d.PlaintextCrc32C == nil }},
		{T{CorruptPlaintext: true}, func(d *kmspb.DecryptResponse) bool {
			return !bytes.Equal(d.Plaintext, pt) && d.PlaintextCrc32C.GetValue() == crc(pt).Value
		}},
	} {
		srv.SetFaults(tt.tamper)
		d, err := c.Decrypt(ctx, decReq(key1, ct))
		if err != nil || !tt.check(d) {
			t.Errorf("Decrypt with %+v = %v, %v; want the tampering visible", tt.tamper, d, err)
		}
	}
	srv.SetFaults(T{})
	if d, err := c.Decrypt(ctx, decReq(key1, ct)); err != nil || !bytes.Equal(d.Plaintext, pt) || d.PlaintextCrc32C.Value != crc(pt).Value {
		t.Errorf("Decrypt after tampering cleared = %v, %v; want honest", d, err)
	}
}

func TestNewAndAddresses(t *testing.T) {
	for _, names := range [][]string{
		{"projects/p/keyRings/r/cryptoKeys/k"},
		{key1 + "/cryptoKeyVersions/1"},
		{key1, key1},
	} {
		if s, err := insecurefakekms.New(names...); err == nil {
			s.Close()
			t.Errorf("New(%q) err = nil, want an error", names)
		}
	}
	srv, err := insecurefakekms.New()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	host, _, err := net.SplitHostPort(srv.Endpoint())
	if err != nil || host != "127.0.0.1" {
		t.Errorf("Endpoint() = %q, want 127.0.0.1:port", srv.Endpoint())
	}
	want := "gcpkms://" + key1 + "?endpoint=" + srv.Endpoint() + "&insecure=true"
	if got := srv.KeyURI(key1); got != want {
		t.Errorf("KeyURI = %q, want %q", got, want)
	}
}

func TestClose(t *testing.T) {
	srv, c := start(t)
	encrypt(t, c)
	if err := srv.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}
	_, err := c.Encrypt(t.Context(), encReq(key1))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("Encrypt after Close err = %v, want Unavailable", err)
	}
}

// TestConcurrentFaultChanges is for the race detector: faults change while
// calls are in flight.
func TestConcurrentFaultChanges(t *testing.T) {
	srv, c := start(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			srv.SetFaults(insecurefakekms.Faults{
				FailNext: 1, FailNextCode: codes.Unavailable,
				FailureRate: 0.5, FailureRateCode: codes.ResourceExhausted,
				Latency:             time.Duration(i%2) * time.Microsecond,
				BadCiphertextCRC32C: i%2 == 0,
				LenientChecksums:    i%2 == 0,
			})
			srv.SetFaults(insecurefakekms.Faults{})
			srv.Calls()
		}
	})
	var calls sync.WaitGroup
	for range 4 {
		calls.Go(func() {
			for range 25 {
				_, err := c.Encrypt(t.Context(), encReq(key1))
				if code := status.Code(err); code != codes.OK && code != codes.Unavailable && code != codes.ResourceExhausted {
					t.Errorf("Encrypt err = %v, want OK or an injected fault", err)
				}
			}
		})
	}
	calls.Wait()
	close(stop)
	wg.Wait()
}
