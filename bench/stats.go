package main

import (
	"math"
	"slices"
	"time"
)

// percentiles returns the nearest-rank percentiles ps (in [0, 1]) of
// samples, which it sorts. An empty sample gives zeros.
func percentiles(samples []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if len(samples) == 0 {
		return out
	}
	slices.Sort(samples)
	for i, p := range ps {
		rank := int(math.Ceil(p*float64(len(samples)))) - 1
		out[i] = samples[min(max(rank, 0), len(samples)-1)]
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
