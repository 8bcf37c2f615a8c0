package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// printTables writes the human-readable report.
func printTables(w io.Writer, rep *report, cfg *config) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	fmt.Fprintf(w, "colcrypt bench — %s %s/%s, %d CPUs, %s", rep.GoVersion, rep.GOOS, rep.GOARCH, rep.CPUs, rep.Started.Format(time.RFC3339))
	if rep.LoadStart != "" {
		fmt.Fprintf(w, ", load average %s at start, %s at end", rep.LoadStart, rep.LoadEnd)
	}
	fmt.Fprint(w, "\n\n")
	if len(rep.KMS) > 0 {
		fmt.Fprintf(w, "Encrypting one field value, per tenant: %d tenants, %d goroutines per contender,\n", cfg.tenants, cfg.workers)
		fmt.Fprintf(w, "%d interleaved rounds of %v per cell; Cloud KMS = real client, real gRPC, in-process fake.\n\n", cfg.rounds, cfg.duration)
		p("KMS latency\tsize\tcontender\tvalues/s\tp50\tp99\tKMS calls/10k values\tallocs/value\tCPU/value\t\n")
		var last string
		for _, r := range rep.KMS {
			group := fmt.Sprintf("%g/%d", r.LatencyMS, r.Size)
			if last != "" && group != last {
				p("\t\t\t\t\t\t\t\t\t\n")
			}
			last = group
			p("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				fmtLatency(time.Duration(r.LatencyMS*float64(time.Millisecond))), fmtSize(r.Size), r.Label,
				fmtCount(r.ValuesPerSec), fmtMicros(r.P50us), fmtMicros(r.P99us),
				fmtCalls(r.KMSCallsPer10k), fmt.Sprintf("%.1f", r.AllocsPerValue), fmtMicros(r.CPUusPerValue))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if len(rep.Goals) > 0 {
		fmt.Fprintln(w, "Goals")
		for _, g := range rep.Goals {
			mark := "[not measured]"
			if g.Met != nil {
				mark = map[bool]string{true: "[met]", false: "[NOT met]"}[*g.Met]
			}
			fmt.Fprintf(w, "  %-15s %s, target %s: %s\n", mark, g.Name, g.Target, g.Measured)
		}
		fmt.Fprintln(w)
	}
	if rep.Chart != "" {
		fmt.Fprintf(w, "Chart: %s\n\n", rep.Chart)
	}
	if rep.DBNote != "" {
		fmt.Fprintf(w, "Database scenarios: %s\n", rep.DBNote)
	}
	if len(rep.DB) > 0 {
		fmt.Fprintln(w)
		p("scenario\tvariant\trows/s\tvs plaintext\trows\tallocs/row\tnote\t\n")
		var last string
		for _, r := range rep.DB {
			if last != "" && r.Scenario != last {
				p("\t\t\t\t\t\t\t\n")
			}
			last = r.Scenario
			rate, rel, rows, allocs := "-", "-", "-", "-"
			if r.RowsPerSec > 0 {
				rate, rows = fmtCount(r.RowsPerSec), fmtCount(float64(r.Rows))
				allocs = fmt.Sprintf("%.1f", r.AllocsPerRow)
			}
			if r.VsPlaintext > 0 {
				rel = fmt.Sprintf("%.2fx", r.VsPlaintext)
			}
			p("%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Variant, rate, rel, rows, allocs, r.Note)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nTotal time: %.0fs\n", rep.Elapsed)
	return nil
}

// fmtCount prints a rate or count with three significant digits and a
// thousands separator: 1,234,000 / 12,300 / 412 / 3.52.
func fmtCount(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	e := math.Pow(10, math.Floor(math.Log10(v))-2)
	return thousands(int64(math.Round(v/e) * e))
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtMicros(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2fµs", v)
	case v < 1000:
		return fmt.Sprintf("%.0fµs", v)
	}
	return fmt.Sprintf("%.1fms", v/1000)
}

func fmtCalls(v float64) string {
	if v == 0 {
		return "0"
	}
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmtCount(v)
}

func fmtSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func fmtLatency(d time.Duration) string {
	if d == 0 {
		return "0 ms"
	}
	return fmt.Sprintf("%g ms", ms(d))
}
