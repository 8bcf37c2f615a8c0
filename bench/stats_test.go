package main

import (
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 1, 100 * time.Millisecond},
		{"p0 of 1..100", ms(hundred...), 0, 1 * time.Millisecond},
		{"p50 of 4", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentiles(tt.samples, tt.p)[0]; got != tt.want {
			t.Errorf("%s: percentiles(_, %v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestFmtCount(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{3.517, "3.52"},
		{41.26, "41.3"},
		{412.4, "412"},
		{1234, "1,230"},
		{98765, "98,800"},
		{2_134_567, "2,130,000"},
		{999_999, "1,000,000"},
	}
	for _, tt := range tests {
		if got := fmtCount(tt.v); got != tt.want {
			t.Errorf("fmtCount(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--sizes", "64, 1024", "--latencies", "0ms,20ms", "--contenders", "aes-gcm,tink-envelope", "--scenarios", "kms"}, discard{})
	if err != nil {
		t.Fatalf("parseFlags = %v", err)
	}
	if len(cfg.sizes) != 2 || cfg.sizes[1] != 1024 || len(cfg.latencies) != 2 || cfg.latencies[1] != 20*time.Millisecond {
		t.Errorf("parseFlags sizes, latencies = %v, %v, want [64 1024], [0 20ms]", cfg.sizes, cfg.latencies)
	}
	if !cfg.contenders[nameAESGCM] || !cfg.contenders[nameTink] || cfg.contenders[nameColcryptWarm] || !cfg.scenarios["kms"] || cfg.scenarios["gorm"] {
		t.Errorf("parseFlags sets = %v, %v, want only the named ones", cfg.contenders, cfg.scenarios)
	}
	for _, bad := range [][]string{
		{"--contenders", "vault"},
		{"--scenarios", "kms,bogus"},
		{"--sizes", "0"},
		{"--latencies", "-1ms"},
		{"--output", "xml"},
		{"--workers", "0"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, discard{}); err == nil {
			t.Errorf("parseFlags(%q) = nil error, want one", bad)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestMedianRatio(t *testing.T) {
	tests := []struct {
		a, b []float64
		want float64
	}{
		{nil, nil, 0},
		{[]float64{10}, []float64{5}, 2},
		{[]float64{10, 30, 1000}, []float64{10, 10, 10}, 3},         // the outlier round does not move it
		{[]float64{10, 20, 30, 40}, []float64{10, 10, 10, 10}, 2.5}, // even: mean of the middle two
		{[]float64{10, 20, 30}, []float64{10, 0, 10}, 2},            // a zero round is left out
	}
	for _, tt := range tests {
		if got := medianRatio(tt.a, tt.b); got != tt.want {
			t.Errorf("medianRatio(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestEvaluateGoals(t *testing.T) {
	res := []kmsResult{
		{Contender: nameColcryptWarm, Size: 64, LatencyMS: 20, ValuesPerSec: 1e6, RoundRates: []float64{1e6, 1e6, 1e6}},
		{Contender: nameTink, Size: 64, LatencyMS: 20, ValuesPerSec: 400, RoundRates: []float64{400, 400, 400}},
		{Contender: nameColcryptWarm, Size: 64, LatencyMS: 0, ValuesPerSec: 1e6, RoundRates: []float64{1e6, 1e6, 1e6}},
		{Contender: nameAESGCM, Size: 64, LatencyMS: 0, ValuesPerSec: 1.6e6, RoundRates: []float64{1.6e6, 1.6e6, 1.6e6}},
	}
	gs := evaluateGoals(res, 100)
	if gs[0].Met == nil || !*gs[0].Met {
		t.Errorf("goal %q: Met = %v, want true (2500x): %s", gs[0].Name, gs[0].Met, gs[0].Measured)
	}
	if gs[1].Met == nil || *gs[1].Met {
		t.Errorf("goal %q: Met = %v, want false (1.6x > 1.5x): %s", gs[1].Name, gs[1].Met, gs[1].Measured)
	}
	if gs := evaluateGoals(res, 10); gs[0].Met != nil {
		t.Errorf("goal %q with 10 tenants: Met = %v, want nil (not the goal's setting)", gs[0].Name, *gs[0].Met)
	}
	if gs := evaluateGoals(res[:2], 100); gs[1].Met != nil {
		t.Errorf("goal %q without 0 ms cells: Met = %v, want nil", gs[1].Name, *gs[1].Met)
	}
}
