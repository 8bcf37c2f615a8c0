package gormplugin_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/colcrypt/colcrypt/field"
	"github.com/colcrypt/colcrypt/internal/handscoped"
)

// The benchmark models: two ~40-byte strings per row, encrypted or not.

type BenchEncrypted struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	A        string `gorm:"serializer:colcrypt"`
	B        string `gorm:"serializer:colcrypt"`
}

// BenchArmored is BenchEncrypted with text-armored columns (text, not
// bytea, on Postgres).
type BenchArmored struct {
	ID       uint
	TenantID string `colcrypt:"tenant"`
	A        string `gorm:"serializer:colcrypt" colcrypt:"armor"`
	B        string `gorm:"serializer:colcrypt" colcrypt:"armor"`
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

// BenchHand is the hand-written baseline: what a team writes without
// colcrypt, a GORM serializer doing AES-256-GCM under one static key for
// every tenant and column (handGCMSerializer).
type BenchHand struct {
	ID       uint
	TenantID string
	A        string `gorm:"serializer:handgcm;type:bytea"`
	B        string `gorm:"serializer:handgcm;type:bytea"`
}

// handGCMSerializer seals a string field with AES-256-GCM under one
// static key, a random nonce in front, no associated data, no header, no
// key store. The nonce is drawn inside the AEAD
// (cipher.NewGCMWithRandomNonce), as colcrypt's is, so both pay the same
// for AES-GCM and the ratio shows what colcrypt adds.
type handGCMSerializer struct{ aead cipher.AEAD }

func (h handGCMSerializer) Scan(ctx context.Context, f *schema.Field, dst reflect.Value, dbValue any) error {
	b, ok := dbValue.([]byte)
	if !ok {
		return errors.New("handgcm: not bytea")
	}
	pt, err := h.aead.Open(nil, nil, b, nil)
	if err != nil {
		return err
	}
	f.ReflectValueOf(ctx, dst).SetString(string(pt))
	return nil
}

func (h handGCMSerializer) Value(_ context.Context, _ *schema.Field, _ reflect.Value, v any) (any, error) {
	return h.aead.Seal(nil, nil, []byte(v.(string)), nil), nil
}

func init() {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic(err)
	}
	schema.RegisterSerializer("handgcm", handGCMSerializer{aead})
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
	e, db, d := newBenchData(b)
	enc, plain, raw := d.enc, d.plain, d.floor

	b.Run("CreateInBatches/plaintext", func(b *testing.B) {
		benchCreate(b, e, db, "bench_plains", plain)
	})
	b.Run("CreateInBatches/encrypted", func(b *testing.B) {
		benchCreate(b, e, db, "bench_encrypteds", enc)
	})
	b.Run("CreateInBatches/bytea-71B", func(b *testing.B) {
		benchCreate(b, e, db, "bench_bytes", raw)
	})
	b.Run("CreateInBatches/handwritten", func(b *testing.B) {
		benchCreate(b, e, db, "bench_hands", d.hand)
	})
	b.Run("CreateInBatches/handscoped", func(b *testing.B) {
		benchCreate(b, e, db, "bench_hand_scopeds", d.scoped)
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
	b.Run("Find/handwritten", func(b *testing.B) {
		benchFind[BenchHand](b, db)
	})
	b.Run("Find/handscoped", func(b *testing.B) {
		benchFind[BenchHandScoped](b, db)
	})
	b.Run("Find/encrypted-row-tenant", func(b *testing.B) {
		benchFind[BenchEncrypted](b, e.db.WithContext(context.Background()))
	})
}

// benchData is the rows of every benchmark model, the same values in
// each: plaintext, encrypted (bytea and armored) and the floor, plain
// bytes of the ciphertext's size.
type benchData struct {
	enc     []BenchEncrypted
	armored []BenchArmored
	plain   []BenchPlain
	floor   []BenchBytes
	hand    []BenchHand
	scoped  []BenchHandScoped
}

// newBenchData makes the benchmark tables on Postgres, warms tenant
// acme's key, and fills every table with benchRows rows, so that each
// sub-benchmark can run alone. db is bound to acme's context.
func newBenchData(b *testing.B) (*env, *gorm.DB, benchData) {
	e := newEnv(b, dialects[0], envOptions{}, &BenchEncrypted{}, &BenchArmored{}, &BenchPlain{}, &BenchBytes{}, &BenchHand{}, &BenchHandScoped{})
	ctx := ctxFor("acme")
	if _, err := e.keys.Active(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	db := e.db.WithContext(ctx)
	d := benchData{
		enc:     make([]BenchEncrypted, benchRows),
		armored: make([]BenchArmored, benchRows),
		plain:   make([]BenchPlain, benchRows),
		floor:   make([]BenchBytes, benchRows),
		hand:    make([]BenchHand, benchRows),
		scoped:  make([]BenchHandScoped, benchRows),
	}
	for i := range d.enc {
		d.enc[i] = BenchEncrypted{TenantID: "acme", A: benchValue(i, "a"), B: benchValue(i, "b")}
		d.armored[i] = BenchArmored(d.enc[i])
		d.plain[i] = BenchPlain{TenantID: "acme", A: d.enc[i].A, B: d.enc[i].B}
		d.hand[i] = BenchHand(d.plain[i])
		d.scoped[i] = BenchHandScoped(d.plain[i])
		d.floor[i] = BenchBytes{TenantID: "acme", A: []byte(d.enc[i].A + strings.Repeat("p", 31)), B: []byte(d.enc[i].B + strings.Repeat("p", 31))}
	}
	for _, rows := range []any{clone(d.plain), clone(d.enc), clone(d.armored), clone(d.floor), clone(d.hand)} {
		if err := db.CreateInBatches(rows, benchBatch).Error; err != nil {
			b.Fatal(err)
		}
	}
	// The scoped baseline writes colcrypt's header, taken from a value.
	handScopedBaseline = handscoped.New(e.rawBytes(b, "bench_encrypteds", "a", 1), field.TenantFromContext)
	if err := db.CreateInBatches(clone(d.scoped), benchBatch).Error; err != nil {
		b.Fatal(err)
	}
	return e, db, d
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

// BenchmarkGORMVsPlaintext is the figure the project tracks. Each
// iteration runs the same operation on each model back to back, in an
// order that rotates, so that the noise of a shared machine hits all
// alike: plaintext text columns (the baseline), colcrypt with bytea
// columns, colcrypt with text-armored columns, and a floor with no
// colcrypt at all (plain bytes of the ciphertext's size in bytea columns:
// what storing and moving the bigger values costs on its own). It
// reports each one's time over the baseline's, for the fastest runs
// (x-best) and the medians (x-median). A fifth contender is the
// hand-written baseline, a GORM serializer doing AES-256-GCM under one
// static key (BenchHand): every other one is reported over it too
// (x-hand, medians), with allocations per row, and by the client
// process's CPU time (cpu-x-hand, medians), which the load of a shared
// machine moves far less than wall time. A sixth is that baseline doing
// colcrypt's per-value work (BenchHandScoped: tenant check, key lookup,
// header, colcrypt's associated data), over which colcrypt is reported
// as "bytea-x-handscoped".
//
//	go test -run='^$' -bench=VsPlaintext -benchtime=15x -count=3 ./gormplugin/
func BenchmarkGORMVsPlaintext(b *testing.B) {
	e, db, d := newBenchData(b)
	enc, armored, plain, floor := d.enc, d.armored, d.plain, d.floor

	b.Run("CreateInBatches", func(b *testing.B) {
		create := func(name, table string, reset func()) contender {
			return contender{name: name, setup: func() {
				e.exec(b, "TRUNCATE "+table+" RESTART IDENTITY")
				reset()
			}}
		}
		pb, eb, ab, fb := make([]BenchPlain, benchRows), make([]BenchEncrypted, benchRows), make([]BenchArmored, benchRows), make([]BenchBytes, benchRows)
		hb := make([]BenchHand, benchRows)
		sb := make([]BenchHandScoped, benchRows)
		cs := []contender{
			create("plaintext", "bench_plains", func() { copy(pb, plain) }),
			create("bytea", "bench_encrypteds", func() { copy(eb, enc) }),
			create("armored", "bench_armoreds", func() { copy(ab, armored) }),
			create("floor", "bench_bytes", func() { copy(fb, floor) }),
			create("handwritten", "bench_hands", func() { copy(hb, d.hand) }),
			create("handscoped", "bench_hand_scopeds", func() { copy(sb, d.scoped) }),
		}
		for i, rows := range []any{pb, eb, ab, fb, hb, sb} {
			cs[i].op = func() error { return db.CreateInBatches(rows, benchBatch).Error }
		}
		rounds(b, cs...)
	})
	b.Run("Find", func(b *testing.B) {
		var pout []BenchPlain
		var eout []BenchEncrypted
		var aout []BenchArmored
		var fout []BenchBytes
		var hout []BenchHand
		var sout []BenchHandScoped
		find := func(name string, reset func(), dst any) contender {
			return contender{name: name, setup: reset, op: func() error { return db.Find(dst).Error }}
		}
		rounds(b,
			find("plaintext", func() { pout = nil }, &pout),
			find("bytea", func() { eout = nil }, &eout),
			find("armored", func() { aout = nil }, &aout),
			find("floor", func() { fout = nil }, &fout),
			find("handwritten", func() { hout = nil }, &hout),
			find("handscoped", func() { sout = nil }, &sout))
		if len(pout) != benchRows || len(eout) != benchRows || len(aout) != benchRows || len(fout) != benchRows || len(hout) != benchRows || len(sout) != benchRows {
			b.Fatalf("Find = %d, %d, %d and %d rows, want %d", len(pout), len(eout), len(aout), len(fout), benchRows)
		}
		for i := range eout {
			want := enc[eout[i].ID-1]
			if eout[i].A != want.A || eout[i].B != want.B || aout[i].A != enc[aout[i].ID-1].A {
				b.Fatalf("row %d decrypted wrong", eout[i].ID)
			}
		}
	})
}

// contender is one side of a same-run comparison: setup runs untimed
// before each timed op.
type contender struct {
	name  string
	setup func()
	op    func() error
}

// rounds times each contender once per iteration, in an order that
// rotates every iteration, and reports every contender after the first
// as a ratio to the first: "<name>-x-best" for the fastest runs and
// "<name>-x-median" for the medians. If a contender is named
// "handwritten" (the single-key AES-GCM serializer a team would write
// without colcrypt), every other one is also reported over it,
// "<name>-x-hand" (medians). Each contender's allocations per row
// (benchRows rows an op; the median round's, counted outside the timed
// part) are "<name>-allocs/row".
func rounds(b *testing.B, cs ...contender) {
	b.ReportAllocs()
	times := make([][]time.Duration, len(cs))
	cpus := make([][]time.Duration, len(cs))
	allocs := make([][]uint64, len(cs))
	var ms runtime.MemStats
	i := 0
	for b.Loop() {
		for j := range cs {
			k := (i + j) % len(cs)
			cs[k].setup()
			runtime.ReadMemStats(&ms)
			m0 := ms.Mallocs
			c0 := processCPU()
			start := time.Now()
			var err error
			// The label lets a CPU profile of the run be split by
			// contender: go tool pprof -tagfocus=contender=bytea.
			pprof.Do(context.Background(), pprof.Labels("contender", cs[k].name), func(context.Context) { err = cs[k].op() })
			if err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], time.Since(start))
			cpus[k] = append(cpus[k], processCPU()-c0)
			runtime.ReadMemStats(&ms)
			allocs[k] = append(allocs[k], ms.Mallocs-m0)
		}
		i++
	}
	for k := range cs {
		slices.Sort(times[k])
		slices.Sort(cpus[k])
		slices.Sort(allocs[k])
	}
	mid := len(times[0]) / 2
	b.ReportMetric(float64(times[0][0].Microseconds()), cs[0].name+"-best-µs")
	for k := 1; k < len(cs); k++ {
		b.ReportMetric(float64(times[k][0])/float64(times[0][0]), cs[k].name+"-x-best")
		b.ReportMetric(float64(times[k][mid])/float64(times[0][mid]), cs[k].name+"-x-median")
	}
	hand := slices.IndexFunc(cs, func(c contender) bool { return c.name == "handwritten" })
	for k, c := range cs {
		b.ReportMetric(float64(allocs[k][mid])/benchRows, c.name+"-allocs/row")
		if hand >= 0 && k != hand {
			b.ReportMetric(float64(times[k][mid])/float64(times[hand][mid]), c.name+"-x-hand")
			b.ReportMetric(float64(cpus[k][mid])/float64(cpus[hand][mid]), c.name+"-cpu-x-hand")
		}
	}
	// colcrypt (bytea) against the baseline doing its per-value work
	// (BenchHandScoped): what is left beyond that floor.
	enc := slices.IndexFunc(cs, func(c contender) bool { return c.name == "bytea" })
	scoped := slices.IndexFunc(cs, func(c contender) bool { return c.name == "handscoped" })
	if enc >= 0 && scoped >= 0 {
		b.ReportMetric(float64(times[enc][mid])/float64(times[scoped][mid]), "bytea-x-handscoped")
		b.ReportMetric(float64(cpus[enc][mid])/float64(cpus[scoped][mid]), "bytea-cpu-x-handscoped")
	}
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }
