package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// The chart is plain SVG from a text/template: throughput (log scale)
// against the injected KMS latency, one line per contender, for the first
// value size of the run. No plotting dependency.

var chartTmpl = template.Must(template.New("chart").Funcs(template.FuncMap{
	"xml":   xmlEscape,
	"add":   func(a, b float64) float64 { return a + b },
	"sub":   func(a, b float64) float64 { return a - b },
	"mid":   func(a, b float64) float64 { return (a + b) / 2 },
	"footY": func(h int) int { return h - 12 },
}).Parse(
	`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<title>{{xml .Title}}</title>
<rect width="{{.W}}" height="{{.H}}" fill="#ffffff"/>
<text x="{{.Left}}" y="24" font-size="15" font-weight="bold">{{xml .Title}}</text>
<text x="{{.Left}}" y="42" fill="#555555">{{xml .Subtitle}}</text>
{{range .YTicks}}<line x1="{{$.Left}}" y1="{{.Pos}}" x2="{{$.Right}}" y2="{{.Pos}}" stroke="#e3e3e3"/>
<text x="{{printf "%.1f" (sub $.Left 8)}}" y="{{.Pos}}" dy="4" text-anchor="end" fill="#333333">{{xml .Label}}</text>
{{end}}{{range .XTicks}}<line x1="{{.Pos}}" y1="{{$.Top}}" x2="{{.Pos}}" y2="{{$.Bottom}}" stroke="#f0f0f0"/>
<text x="{{.Pos}}" y="{{printf "%.1f" (add $.Bottom 18)}}" text-anchor="middle" fill="#333333">{{xml .Label}}</text>
{{end}}<rect x="{{.Left}}" y="{{.Top}}" width="{{printf "%.1f" (sub .Right .Left)}}" height="{{printf "%.1f" (sub .Bottom .Top)}}" fill="none" stroke="#999999"/>
<text x="{{printf "%.1f" (mid .Left .Right)}}" y="{{printf "%.1f" (add .Bottom 40)}}" text-anchor="middle">KMS latency per call (injected into the fake Cloud KMS)</text>
<text transform="translate(18 {{printf "%.1f" (mid .Top .Bottom)}}) rotate(-90)" text-anchor="middle">values encrypted per second (log scale)</text>
<text x="{{.Left}}" y="{{printf "%d" (footY .H)}}" font-size="11" fill="#555555">{{xml .Footnote}}</text>
{{range .Series}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2.5"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}} points="{{.Points}}"/>
{{$c := .Color}}{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="3.5" fill="{{$c}}"><title>{{xml .Tip}}</title></circle>
{{end}}<line x1="{{printf "%.1f" (add $.Right 16)}}" y1="{{.LegendY}}" x2="{{printf "%.1f" (add $.Right 44)}}" y2="{{.LegendY}}" stroke="{{.Color}}" stroke-width="2.5"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/>
<text x="{{printf "%.1f" (add $.Right 50)}}" y="{{.LegendY}}" dy="4">{{xml .Label}}</text>
{{end}}</svg>
`))

type chartTick struct {
	Pos   string
	Label string
}

type chartDot struct{ X, Y, Tip string }

type chartSeries struct {
	Label, Color, Dash string
	Points             string
	Dots               []chartDot
	LegendY            string
}

type chartData struct {
	W, H                     int
	Left, Right, Top, Bottom float64
	Title, Subtitle          string
	Footnote                 string
	XTicks, YTicks           []chartTick
	Series                   []chartSeries
}

// seriesStyle gives each contender a fixed colour, so charts from two runs
// compare at a glance.
var seriesStyle = map[string]struct{ color, dash string }{
	nameColcryptWarm: {"#1a7f37", ""},
	nameColcryptCold: {"#6cc070", "7 4"},
	nameTink:         {"#d9480f", ""},
	nameGocloud:      {"#6f42c1", ""},
	nameAESGCM:       {"#555555", "3 3"},
}

// renderChart draws the results of one size.
func renderChart(res []kmsResult, size, tenants, workers int) ([]byte, error) {
	d := chartData{W: 860, H: 470, Left: 78, Right: 560, Top: 60, Bottom: 390}
	d.Footnote = "Cold colcrypt: each value is its tenant's first use in a fresh key store (a key-table read and a KMS unwrap), the worst case."
	d.Title = "colcrypt vs alternatives: encryption throughput as KMS latency grows"
	d.Subtitle = fmt.Sprintf("%s field values, %d tenants, %d goroutines per contender; Cloud KMS via real client and gRPC to an in-process fake", fmtSize(size), tenants, workers)

	var lats []float64
	seen := map[float64]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range res {
		if r.Size != size || r.ValuesPerSec <= 0 {
			continue
		}
		if !seen[r.LatencyMS] {
			seen[r.LatencyMS] = true
			lats = append(lats, r.LatencyMS)
		}
		lo, hi = math.Min(lo, r.ValuesPerSec), math.Max(hi, r.ValuesPerSec)
	}
	if len(lats) == 0 {
		return nil, fmt.Errorf("no results for size %d", size)
	}
	maxLat := 0.0
	for _, l := range lats {
		maxLat = math.Max(maxLat, l)
	}
	x := func(l float64) float64 {
		if maxLat == 0 {
			return (d.Left + d.Right) / 2
		}
		pad := 24.0
		return d.Left + pad + (d.Right-d.Left-2*pad)*l/maxLat
	}
	decLo, decHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if decHi == decLo {
		decHi++
	}
	y := func(v float64) float64 {
		return d.Bottom - (d.Bottom-d.Top)*(math.Log10(v)-decLo)/(decHi-decLo)
	}
	for _, l := range lats {
		d.XTicks = append(d.XTicks, chartTick{f1(x(l)), fmt.Sprintf("%g ms", l)})
	}
	for e := decLo; e <= decHi; e++ {
		d.YTicks = append(d.YTicks, chartTick{f1(y(math.Pow(10, e))), decadeLabel(e)})
	}

	var names []string
	byName := map[string][]kmsResult{}
	for _, r := range res {
		if r.Size != size || r.ValuesPerSec <= 0 {
			continue
		}
		if _, ok := byName[r.Contender]; !ok {
			names = append(names, r.Contender)
		}
		byName[r.Contender] = append(byName[r.Contender], r)
	}
	for i, n := range names {
		rs := byName[n]
		st := seriesStyle[n]
		s := chartSeries{Label: rs[0].Label, Color: st.color, Dash: st.dash, LegendY: f1(d.Top + 10 + float64(i)*24)}
		if s.Color == "" {
			s.Color = "#000000"
		}
		var pts []string
		for _, r := range rs {
			px, py := f1(x(r.LatencyMS)), f1(y(r.ValuesPerSec))
			pts = append(pts, px+","+py)
			s.Dots = append(s.Dots, chartDot{px, py, fmt.Sprintf("%s at %g ms: %s values/s", r.Label, r.LatencyMS, fmtCount(r.ValuesPerSec))})
		}
		s.Points = strings.Join(pts, " ")
		d.Series = append(d.Series, s)
	}
	var b bytes.Buffer
	if err := chartTmpl.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeChart renders the chart of the run's first size to path. The
// directory must exist: the default path is relative to bench/.
func writeChart(path string, res []kmsResult, cfg *config) error {
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("directory of %s does not exist (run from bench/, or pass --chart)", path)
	}
	svg, err := renderChart(res, cfg.sizes[0], cfg.tenants, cfg.workers)
	if err != nil {
		return err
	}
	return os.WriteFile(path, svg, 0o644)
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

func decadeLabel(e float64) string {
	switch {
	case e >= 9:
		return fmt.Sprintf("%gG", math.Pow(10, e-9))
	case e >= 6:
		return fmt.Sprintf("%gM", math.Pow(10, e-6))
	case e >= 3:
		return fmt.Sprintf("%gk", math.Pow(10, e-3))
	}
	return fmt.Sprintf("%g", math.Pow(10, e))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
