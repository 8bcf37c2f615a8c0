package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/colcrypt/colcrypt/migrate"
)

// plainEvery is how often progress is printed when standard error is not
// a terminal (a log file, CI): one line, not a redrawn bar.
const plainEvery = 2 * time.Second

// progressView shows a job's progress on standard error: a bar with rows
// done, rows/s and ETA on a terminal, periodic lines otherwise.
type progressView struct {
	w        io.Writer
	desc     string
	terminal bool
	off      bool

	started bool
	base    int64 // rows done before this run (a resumed job)
	start   time.Time
	last    time.Time
	bar     *progressbar.ProgressBar
}

func (c *cli) progress(desc string) *progressView {
	return &progressView{w: c.stderr, desc: desc, terminal: c.stderrIsTerminal, off: c.noProgress}
}

// update is the migrate.Progress callback. The bar counts this run's
// rows, so its rate and ETA are this run's, not inflated by rows an
// earlier run did.
func (p *progressView) update(pr migrate.Progress) {
	if p.off {
		return
	}
	now := time.Now()
	if !p.started {
		p.started = true
		p.start, p.last = now.Add(-pr.Elapsed), now
		p.base = pr.Done - pr.ThisRun
		if p.terminal {
			desc := p.desc
			if p.base > 0 {
				desc += fmt.Sprintf(" (resumed after %d rows)", p.base)
			}
			p.bar = progressbar.NewOptions64(max(pr.Total-p.base, 1),
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(desc),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("rows"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionFullWidth(),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
			)
		}
	}
	run := pr.Done - p.base
	if p.bar != nil {
		if run > p.bar.GetMax64() {
			// More rows than the estimate: rows were inserted meanwhile.
			p.bar.ChangeMax64(run)
		}
		p.bar.Set64(run)
		return
	}
	if now.Sub(p.last) < plainEvery {
		return
	}
	p.last = now
	p.line(pr, run)
}

func (p *progressView) line(pr migrate.Progress, run int64) {
	el := time.Since(p.start)
	rate := float64(run) / max(el.Seconds(), 1e-3)
	pct := ""
	eta := ""
	if pr.Total > 0 {
		pct = fmt.Sprintf(" (%.0f%%)", 100*float64(min(pr.Done, pr.Total))/float64(pr.Total))
		if rate > 0 && pr.Total > pr.Done {
			eta = ", ETA " + time.Duration(float64(pr.Total-pr.Done)/rate*float64(time.Second)).Round(time.Second).String()
		}
	}
	fmt.Fprintf(p.w, "colcrypt: %s: %d/%d rows%s, %.0f rows/s%s\n", p.desc, pr.Done, pr.Total, pct, rate, eta)
}

// finish ends the bar, or prints a last line.
func (p *progressView) finish() {
	if p.off || !p.started {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
	}
}
