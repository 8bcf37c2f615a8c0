package main

import (
	"fmt"
	"slices"
	"strings"
)

// goal is one of the project's performance goals and whether this run met
// it.
type goal struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	// Met is nil when the run did not measure what the goal needs.
	Met *bool `json:"met"`
}

// The goals, from the project's plan.
const (
	goalVsTink     = 1000.0 // colcrypt warm ÷ Tink, values/s, at 20 ms and 100 tenants
	goalVsTinkLat  = 20.0   // ms
	goalTenants    = 100
	goalFloorRatio = 1.5 // raw AES-GCM ÷ colcrypt warm, values/s, at 0 ms
)

// evaluateGoals compares contenders by the median, over rounds, of the
// ratio of their values/s in the same round: cells of one round run
// seconds apart, so a burst of load elsewhere on the machine moves one
// round's ratio, not the median.
func evaluateGoals(res []kmsResult, tenants int) []goal {
	cell := func(name string, size int, latMS float64) *kmsResult {
		for i := range res {
			r := &res[i]
			if r.Contender == name && r.Size == size && r.LatencyMS == latMS && r.ValuesPerSec > 0 {
				return r
			}
		}
		return nil
	}
	var sizes []int
	for _, r := range res {
		if !slices.Contains(sizes, r.Size) {
			sizes = append(sizes, r.Size)
		}
	}

	vsTink := goal{
		Name:   fmt.Sprintf("colcrypt (warm) vs Tink envelope AEAD, %g ms KMS latency, %d tenants", goalVsTinkLat, goalTenants),
		Target: fmt.Sprintf("≥ %gx the values/s", goalVsTink),
	}
	floor := goal{
		Name:   "colcrypt (warm) seal vs raw AES-256-GCM, 0 ms KMS latency",
		Target: fmt.Sprintf("within %gx the time per value", goalFloorRatio),
	}
	var tinkParts, floorParts []string
	tinkMet, tinkAny := true, false
	floorMet, floorAny := true, false
	for _, n := range sizes {
		if c, t := cell(nameColcryptWarm, n, goalVsTinkLat), cell(nameTink, n, goalVsTinkLat); c != nil && t != nil {
			x := medianRatio(c.RoundRates, t.RoundRates)
			tinkParts = append(tinkParts, fmt.Sprintf("%s: %sx (%s vs %s values/s)", fmtSize(n), fmtCount(x), fmtCount(c.ValuesPerSec), fmtCount(t.ValuesPerSec)))
			tinkAny = true
			tinkMet = tinkMet && x >= goalVsTink
		}
		if c, a := cell(nameColcryptWarm, n, 0), cell(nameAESGCM, n, 0); c != nil && a != nil {
			x := medianRatio(a.RoundRates, c.RoundRates)
			part := fmt.Sprintf("%s: %.2fx (p50 %s vs %s", fmtSize(n), x, fmtMicros(c.P50us), fmtMicros(a.P50us))
			if c.CPUusPerValue > 0 && a.CPUusPerValue > 0 {
				part += fmt.Sprintf("; CPU/value %s vs %s = %.2fx", fmtMicros(c.CPUusPerValue), fmtMicros(a.CPUusPerValue), c.CPUusPerValue/a.CPUusPerValue)
			}
			floorParts = append(floorParts, part+")")
			floorAny = true
			floorMet = floorMet && x <= goalFloorRatio
		}
	}
	if tenants != goalTenants && tinkAny {
		tinkAny = false
		tinkParts = append(tinkParts, fmt.Sprintf("but this run had %d tenants, not %d", tenants, goalTenants))
	}
	settle := func(g *goal, parts []string, any, met bool) {
		g.Measured = strings.Join(parts, "; ")
		if any {
			g.Met = &met
		} else if g.Measured == "" {
			g.Measured = "not measured in this run"
		}
	}
	settle(&vsTink, tinkParts, tinkAny, tinkMet)
	settle(&floor, floorParts, floorAny, floorMet)
	return []goal{vsTink, floor}
}

// medianRatio is the median of a[i]/b[i] over the rounds both have.
func medianRatio(a, b []float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if len(rs)%2 == 1 {
		return rs[len(rs)/2]
	}
	return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
}
