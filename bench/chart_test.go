package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestRenderChart(t *testing.T) {
	res := []kmsResult{
		{Contender: nameColcryptWarm, Label: "colcrypt <warm> & co", Size: 64, LatencyMS: 0, ValuesPerSec: 1e6},
		{Contender: nameColcryptWarm, Label: "colcrypt <warm> & co", Size: 64, LatencyMS: 20, ValuesPerSec: 1e6},
		{Contender: nameTink, Label: "Tink", Size: 64, LatencyMS: 0, ValuesPerSec: 1e4},
		{Contender: nameTink, Label: "Tink", Size: 64, LatencyMS: 20, ValuesPerSec: 400},
		{Contender: nameTink, Label: "Tink", Size: 1024, LatencyMS: 20, ValuesPerSec: 1}, // other size: not drawn
	}
	svg, err := renderChart(res, 64, 100, 8)
	if err != nil {
		t.Fatalf("renderChart = %v", err)
	}
	// Well-formed XML, labels escaped.
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("renderChart output is not well-formed XML: %v\n%s", err, svg)
		}
	}
	s := string(svg)
	if got := strings.Count(s, "<polyline"); got != 2 {
		t.Errorf("renderChart drew %d lines, want 2 (one per contender of the size)", got)
	}
	// Log scale: decades 100 (floor of 400) to 1M, evenly spaced.
	for _, label := range []string{">100<", ">1k<", ">10k<", ">100k<", ">1M<"} {
		if !strings.Contains(s, label) {
			t.Errorf("renderChart has no y label %s", label)
		}
	}
	if strings.Contains(s, ">10<") || strings.Contains(s, ">10M<") {
		t.Errorf("renderChart's y axis reaches past the data's decades")
	}
	// The Tink line falls from 10k to 400: 1.4 decades of the 4 shown.
	m := regexp.MustCompile(`stroke="#d9480f" stroke-width="2.5" points="([\d.]+),([\d.]+) ([\d.]+),([\d.]+)"`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no Tink polyline in\n%s", s)
	}
	y0, _ := strconv.ParseFloat(m[2], 64)
	y1, _ := strconv.ParseFloat(m[4], 64)
	const plotH = 390.0 - 60.0
	wantDrop := plotH * (4 - 2.60206) / 4 // log10(10000) - log10(400) = 1.39794 decades
	if got := y1 - y0; got < wantDrop-1 || got > wantDrop+1 {
		t.Errorf("Tink line drops %.1f px, want %.1f (log scale)", got, wantDrop)
	}
	if _, err := renderChart(res, 4096, 100, 8); err == nil {
		t.Errorf("renderChart for a size without results = nil error, want one")
	}
}
