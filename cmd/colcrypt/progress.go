package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/colcrypt/colcrypt/migrate"
)

const (
	// plainEvery is how often progress is printed when standard error is
	// not a terminal (a log file, CI): one line, not a redrawn bar.
	plainEvery = 2 * time.Second
	// frameEvery throttles the terminal bar's redraws.
	frameEvery = 200 * time.Millisecond
	// rateAfter is how long a run goes before a rate and ETA are shown: a
	// rate over the first instants is noise ("0 rows/hr", "ETA 3h" for a
	// job of a minute).
	rateAfter = time.Second
	// barWidth is the width of the bar's track, in cells; the line stays
	// under 120 columns with a long job description.
	barWidth = 24
)

// progressView shows a job's progress on standard error: a bar redrawn in
// place on a terminal, a line every plainEvery otherwise.
//
// What it shows is what the job reports as done: rows of committed
// batches. It never fills itself in: a run that stops early ends on the
// count it reached, not on a full bar. It is driven from the job's
// goroutines and the signal handler, hence the mutex.
type progressView struct {
	w        io.Writer
	desc     string
	terminal bool
	off      bool

	mu       sync.Mutex
	started  bool
	base     int64 // rows done before this run (a resumed job)
	start    time.Time
	last     time.Time
	pr       migrate.Progress
	stopping string // set by a signal: shown on the bar
}

func (c *cli) progress(desc string) *progressView {
	p := &progressView{w: c.stderr, desc: desc, terminal: c.stderrIsTerminal, off: c.noProgress}
	c.setView(p)
	return p
}

// update is the migrate.Progress callback. Rate and ETA are this run's,
// not inflated by rows an earlier run did.
func (p *progressView) update(pr migrate.Progress) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.started {
		p.started = true
		p.start = now.Add(-pr.Elapsed)
		p.base = pr.Done - pr.ThisRun
		if !p.terminal {
			// A log gets its first line after plainEvery, with a rate.
			p.last = now
			if p.base > 0 {
				fmt.Fprintf(p.w, "colcrypt: %s: resuming after %d rows done earlier\n", p.desc, p.base)
			}
		}
	} else if pr.Done < p.pr.Done {
		return // a report that arrived out of order: never step back
	}
	p.pr = pr
	every := plainEvery
	if p.terminal {
		every = frameEvery
	}
	if now.Sub(p.last) < every && p.last != (time.Time{}) {
		return
	}
	p.last = now
	p.draw(now)
}

// draw prints the current state: the bar on a terminal, a line otherwise.
// The caller holds mu.
func (p *progressView) draw(now time.Time) {
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.frame(now))
		return
	}
	fmt.Fprintf(p.w, "colcrypt: %s\n", p.frame(now))
}

// frame is one rendering of the progress, without line control.
func (p *progressView) frame(now time.Time) string {
	pr := p.pr
	total := max(pr.Total, pr.Done) // rows inserted since the estimate
	var b strings.Builder
	b.WriteString(p.desc)
	if p.base > 0 {
		fmt.Fprintf(&b, " (resumed at %d)", p.base)
	}
	pct := 0.0
	if total > 0 {
		pct = float64(pr.Done) / float64(total)
	}
	if p.terminal {
		filled := int(pct * barWidth)
		if pr.Done < total && filled == barWidth {
			filled-- // a full bar means done, and this is not
		}
		fmt.Fprintf(&b, " [%s%s]", strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled))
	}
	fmt.Fprintf(&b, " %d/%d rows", pr.Done, total)
	if total > 0 {
		p := int(pct * 100)
		if pr.Done < total && p == 100 {
			p = 99
		}
		fmt.Fprintf(&b, " (%d%%)", p)
	}
	el := now.Sub(p.start)
	run := pr.Done - p.base
	if el >= rateAfter && run > 0 {
		rate := float64(run) / el.Seconds()
		fmt.Fprintf(&b, ", %.0f rows/s", rate)
		if total > pr.Done {
			eta := time.Duration(float64(total-pr.Done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", ETA %v", eta.Round(time.Second))
		}
	}
	if p.stopping != "" {
		b.WriteString(", " + p.stopping)
	}
	return b.String()
}

// stop shows on the bar that a signal asked the job to stop: the bar is
// where the operator is looking, and a separate line would be drawn over.
func (p *progressView) stop(msg string) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = msg
	if p.terminal && p.started {
		p.draw(time.Now())
	}
}

// finish draws the last state and ends the bar's line, so that what is
// printed next starts on a line of its own. The last frame shows what
// was done: a full bar only when done says the job finished (the row
// estimate may have been high), the count reached otherwise.
func (p *progressView) finish(done bool) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || !p.terminal {
		return
	}
	if done {
		p.pr.Total = p.pr.Done
	}
	p.stopping = ""
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}
