package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/colcrypt/colcrypt/testhelpers/insecurefakekms"
)

// kmsResult is one cell of the KMS scenario: a contender sealing values of
// one size at one KMS latency, summed over the rounds.
type kmsResult struct {
	Contender      string    `json:"contender"`
	Label          string    `json:"label"`
	Size           int       `json:"size_bytes"`
	LatencyMS      float64   `json:"kms_latency_ms"`
	Values         int64     `json:"values"`
	Seconds        float64   `json:"seconds"`
	ValuesPerSec   float64   `json:"values_per_second"`
	RoundRates     []float64 `json:"round_values_per_second"`
	P50us          float64   `json:"p50_us"`
	P99us          float64   `json:"p99_us"`
	LatencySamples int       `json:"latency_samples"`
	KMSCallsPer10k float64   `json:"kms_calls_per_10k_values"`
	AllocsPerValue float64   `json:"allocs_per_value"`
	BytesPerValue  float64   `json:"bytes_per_value"`
	// CPUusPerValue is the process's CPU time (user + system, all
	// threads) per value: unlike values/s it does not drop when other
	// processes take the CPU. For KMS-bound contenders it includes the
	// in-process fake server's work.
	CPUusPerValue float64 `json:"cpu_us_per_value"`

	kmsCalls       int64
	mallocs, bytes uint64
	elapsed        time.Duration
	cpu            time.Duration
	samples        []time.Duration
}

// builders makes each contender; the order is the table's.
var builders = []struct {
	name string
	make func(context.Context, *kmsEnv) (*contender, error)
}{
	{nameColcryptWarm, newColcryptWarm},
	{nameColcryptCold, newColcryptCold},
	{nameTink, newTink},
	{nameGocloud, newGocloud},
	{nameAESGCM, newAESGCM},
}

// runKMS runs the KMS scenario: rounds × latencies × (contender, size)
// cells, with the cell order rotated every time so that no contender
// always runs first or last.
func runKMS(ctx context.Context, cfg *config, progress func(string, ...any)) ([]kmsResult, error) {
	progress("kms: starting the fake Cloud KMS and %d tenants' keys", cfg.tenants)
	env, err := newKMSEnv(ctx, cfg.tenants)
	if err != nil {
		return nil, fmt.Errorf("kms scenario setup: %w", err)
	}
	defer env.close()

	var cs []*contender
	defer func() {
		for _, c := range cs {
			c.close()
		}
	}()
	for _, b := range builders {
		if !cfg.contenders[b.name] {
			continue
		}
		c, err := b.make(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("setting up %s: %w", b.name, err)
		}
		cs = append(cs, c)
	}
	plaintexts := make(map[int][]byte, len(cfg.sizes))
	for _, n := range cfg.sizes {
		plaintexts[n] = printable(n)
		for _, c := range cs {
			if err := checkContender(ctx, c, plaintexts[n], cfg.tenants); err != nil {
				return nil, fmt.Errorf("self-check: %w", err)
			}
		}
	}

	type cellKey struct {
		c       int
		size    int
		latency time.Duration
	}
	cells := map[cellKey]*kmsResult{}
	var order []cellKey
	for _, l := range cfg.latencies {
		for _, n := range cfg.sizes {
			for i := range cs {
				k := cellKey{i, n, l}
				order = append(order, k)
				cells[k] = &kmsResult{Contender: cs[i].name, Label: cs[i].label, Size: n, LatencyMS: ms(l)}
			}
		}
	}
	perLatency := len(cfg.sizes) * len(cs)
	estimate := time.Duration(cfg.rounds*len(order)) * cfg.duration
	progress("kms: %d cells × %d rounds × %v ≈ %v", len(order), cfg.rounds, cfg.duration, estimate.Round(time.Second))

	step := 0
	for r := range cfg.rounds {
		for li, l := range cfg.latencies {
			env.srv.SetFaults(insecurefakekms.Faults{Latency: l, LenientChecksums: true})
			block := order[li*perLatency : (li+1)*perLatency]
			for j := range block {
				k := block[(j+r+li)%len(block)]
				c, cell := cs[k.c], cells[k]
				calls0 := env.kmsCalls()
				res, err := runRound(ctx, c, plaintexts[k.size], cfg.tenants, cfg.workers, cfg.duration)
				if err != nil {
					return nil, err
				}
				calls := env.kmsCalls() - calls0
				rate := float64(res.values) / res.elapsed.Seconds()
				cell.Values += res.values
				cell.elapsed += res.elapsed
				cell.mallocs += res.mallocs
				cell.bytes += res.bytes
				cell.cpu += res.cpu
				cell.kmsCalls += calls
				cell.samples = append(cell.samples, res.samples...)
				cell.RoundRates = append(cell.RoundRates, rate)
				step++
				progress("kms: round %d/%d  %-4s %-16s %5dB: %12s values/s  (%d/%d)",
					r+1, cfg.rounds, fmtLatency(l), c.name, k.size, fmtCount(rate), step, cfg.rounds*len(order))
			}
		}
	}
	env.srv.SetFaults(insecurefakekms.Faults{LenientChecksums: true})

	out := make([]kmsResult, 0, len(order))
	for _, k := range order {
		c := cells[k]
		c.Seconds = c.elapsed.Seconds()
		if c.Values > 0 {
			c.ValuesPerSec = float64(c.Values) / c.Seconds
			c.KMSCallsPer10k = float64(c.kmsCalls) * 10000 / float64(c.Values)
			c.AllocsPerValue = float64(c.mallocs) / float64(c.Values)
			c.BytesPerValue = float64(c.bytes) / float64(c.Values)
			c.CPUusPerValue = us(c.cpu) / float64(c.Values)
		}
		p := percentiles(c.samples, 0.50, 0.99)
		c.P50us, c.P99us = us(p[0]), us(p[1])
		c.LatencySamples = len(c.samples)
		c.samples = nil
		out = append(out, *c)
	}
	return out, nil
}

// printable returns n random bytes in the printable ASCII range, like a
// text field.
func printable(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = ' ' + b[i]%95
	}
	return b
}
