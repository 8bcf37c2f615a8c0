package gormplugin_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"
)

// The benchmark models: two ~40-byte strings per row, encrypted or not.

type BenchEncrypted struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	A        string `gorm:"serializer:colcrypt"`
	B        string `gorm:"serializer:colcrypt"`
}

type BenchPlain struct {
	ID       uint
	TenantID string
	A        string
	B        string
}

// BenchBytes stores values as large as the ciphertext (71 bytes) in
// bytea columns, without any serializer: what the bigger rows cost on
// their own, the floor under the encrypted runs.
type BenchBytes struct {
	ID       uint
	TenantID string
	A        []byte
	B        []byte
}

const (
	benchRows  = 10_000
	benchBatch = 1_000
)

func benchValue(i int, col string) string {
	s := fmt.Sprintf("%s-%06d-", col, i)
	return s + strings.Repeat("x", 40-len(s))
}

// BenchmarkGORM compares, on real Postgres in the same run, GORM with two
// encrypted columns against the same model with plaintext text columns:
// CreateInBatches of 10,000 rows (batches of 1,000) and a Find of 10,000
// rows, with the tenant's key cached. The bytea-71B runs store plain
// bytes of the ciphertext's size, to tell the cost of the bigger rows
// from the plugin's own. cpu-ns/op is the client process's CPU time per
// operation, steadier than wall time on a machine that runs the database
// and other work too.
//
//	go test -run='^$' -bench=. -benchtime=3x -count=3 ./gormplugin/
func BenchmarkGORM(b *testing.B) {
	e := newEnv(b, dialects[0], envOptions{}, &BenchEncrypted{}, &BenchPlain{}, &BenchBytes{})
	ctx := ctxFor("acme")
	if _, err := e.keys.Active(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	db := e.db.WithContext(ctx)

	enc := make([]BenchEncrypted, benchRows)
	plain := make([]BenchPlain, benchRows)
	raw := make([]BenchBytes, benchRows)
	for i := range enc {
		enc[i] = BenchEncrypted{TenantID: "acme", A: benchValue(i, "a"), B: benchValue(i, "b")}
		plain[i] = BenchPlain{TenantID: "acme", A: enc[i].A, B: enc[i].B}
		raw[i] = BenchBytes{TenantID: "acme", A: []byte(enc[i].A + strings.Repeat("p", 31)), B: []byte(enc[i].B + strings.Repeat("p", 31))}
	}

	// Fill both tables, so each sub-benchmark can run alone.
	if err := db.CreateInBatches(clone(plain), benchBatch).Error; err != nil {
		b.Fatal(err)
	}
	if err := db.CreateInBatches(clone(enc), benchBatch).Error; err != nil {
		b.Fatal(err)
	}
	if err := db.CreateInBatches(clone(raw), benchBatch).Error; err != nil {
		b.Fatal(err)
	}

	b.Run("CreateInBatches/plaintext", func(b *testing.B) {
		benchCreate(b, e, db, "bench_plains", plain)
	})
	b.Run("CreateInBatches/encrypted", func(b *testing.B) {
		benchCreate(b, e, db, "bench_encrypteds", enc)
	})
	b.Run("CreateInBatches/bytea-71B", func(b *testing.B) {
		benchCreate(b, e, db, "bench_bytes", raw)
	})
	b.Run("Find/plaintext", func(b *testing.B) {
		benchFind[BenchPlain](b, db)
	})
	b.Run("Find/encrypted", func(b *testing.B) {
		benchFind[BenchEncrypted](b, db)
	})
	b.Run("Find/bytea-71B", func(b *testing.B) {
		benchFind[BenchBytes](b, db)
	})
	b.Run("Find/encrypted-row-tenant", func(b *testing.B) {
		benchFind[BenchEncrypted](b, e.db.WithContext(context.Background()))
	})
}

func benchCreate[T any](b *testing.B, e *env, db *gorm.DB, table string, rows []T) {
	b.ReportAllocs()
	batch := make([]T, len(rows))
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		e.exec(b, "TRUNCATE "+table+" RESTART IDENTITY")
		copy(batch, rows) // zero IDs
		b.StartTimer()
		start := processCPU()
		if err := db.CreateInBatches(batch, benchBatch).Error; err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - start
	}
	reportCPU(b, cpu)
}

// processCPU is the CPU time this process has used, all threads: what
// the client side of a statement costs, whatever else the machine runs
// (the database included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func benchFind[T any](b *testing.B, db *gorm.DB) {
	b.ReportAllocs()
	var n int64
	if err := db.Model(new(T)).Count(&n).Error; err != nil || n != benchRows {
		b.Fatalf("table holds %d rows, %v; want %d", n, err, benchRows)
	}
	start := processCPU()
	for b.Loop() {
		var out []T
		if err := db.Find(&out).Error; err != nil || len(out) != benchRows {
			b.Fatalf("Find = %d rows, %v", len(out), err)
		}
	}
	reportCPU(b, processCPU()-start)
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }
