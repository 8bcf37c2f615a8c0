package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
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
	// minTrack is the narrowest the track gets on a narrow terminal.
	minTrack = 8
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
	unit     string // what is counted; "" for rows
	terminal bool
	json     bool // -o json: lines are JSON objects (not on a terminal)
	width    int  // the terminal's columns; 0 if unknown
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
	p := &progressView{w: c.stderr, desc: desc, terminal: c.stderrIsTerminal, width: c.stderrWidth, off: c.noProgress,
		json: c.output == "json" && !c.stderrIsTerminal}
	c.setView(p)
	return p
}

// units names what is counted.
func (p *progressView) units() string {
	if p.unit == "" {
		return "rows"
	}
	return p.unit
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
			if p.base > 0 && !p.json {
				fmt.Fprintf(p.w, "colcrypt: %s: resuming after %d %s done earlier\n", p.desc, p.base, p.units())
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
		// A frame wider than the terminal wraps, and "\r" then redraws
		// only its last line: cut it to fit.
		f := []rune(p.frame(now))
		if p.width > 1 && len(f) > p.width-1 {
			f = f[:p.width-1]
		}
		fmt.Fprintf(p.w, "\r%s\x1b[K", string(f))
		return
	}
	if p.json {
		p.jsonLine(now)
		return
	}
	fmt.Fprintf(p.w, "colcrypt: %s\n", p.frame(now))
}

// progressJSON is a progress line under -o json when standard error is
// not a terminal: with it, everything a JSON run writes to standard
// error (progress, warnings, the error) is one JSON object a line.
type progressJSON struct {
	Progress      string  `json:"progress"`
	Done          int64   `json:"done"`
	Total         int64   `json:"total_estimate"`
	RowsPerSecond float64 `json:"rows_per_second,omitempty"`
	ETASeconds    float64 `json:"eta_seconds,omitempty"`
}

func (p *progressView) jsonLine(now time.Time) {
	pr := p.pr
	l := progressJSON{Progress: p.desc, Done: pr.Done, Total: max(pr.Total, pr.Done)}
	if el := now.Sub(p.start); el >= rateAfter && pr.Done > p.base {
		l.RowsPerSecond = math.Round(float64(pr.Done-p.base) / el.Seconds())
		if l.Total > pr.Done {
			l.ETASeconds = math.Round(float64(l.Total-pr.Done) / l.RowsPerSecond)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(l) == nil { // strings and numbers: cannot fail
		p.w.Write(b.Bytes())
	}
}

// frame is one rendering of the progress, without line control. On a
// terminal of known width the track shrinks (to minTrack) so that the
// counts, rate and ETA stay on screen.
func (p *progressView) frame(now time.Time) string {
	pr := p.pr
	total := max(pr.Total, pr.Done) // rows inserted since the estimate
	head := p.desc
	if p.base > 0 {
		head += fmt.Sprintf(" (resumed at %d)", p.base)
	}
	pct := 0.0
	if total > 0 {
		pct = float64(pr.Done) / float64(total)
	}
	var b strings.Builder
	fmt.Fprintf(&b, " %d/%d %s", pr.Done, total, p.units())
	if total > 0 {
		percent := int(pct * 100)
		if pr.Done < total && percent == 100 {
			percent = 99 // 100% means done
		}
		fmt.Fprintf(&b, " (%d%%)", percent)
	}
	el := now.Sub(p.start)
	run := pr.Done - p.base
	switch {
	case p.stopping != "":
		// No rate or ETA for a run that is stopping or stopped.
		b.WriteString(", " + p.stopping)
	case el >= rateAfter && run > 0:
		rate := float64(run) / el.Seconds()
		fmt.Fprintf(&b, ", %.0f %s/s", rate, p.units())
		if total > pr.Done {
			eta := time.Duration(float64(total-pr.Done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", ETA %v", eta.Round(time.Second))
		}
	}
	tail := b.String()
	if !p.terminal {
		return head + tail
	}
	track := barWidth
	if p.width > 0 {
		track = min(barWidth, max(minTrack, p.width-1-len([]rune(head))-len([]rune(tail))-3))
	}
	filled := int(pct * float64(track))
	if pr.Done < total && filled == track {
		filled-- // a full bar means done, and this is not
	}
	return head + " [" + strings.Repeat("=", filled) + strings.Repeat(" ", track-filled) + "]" + tail
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
	p.stopping = ""
	if done {
		p.pr.Total = p.pr.Done
	} else {
		p.stopping = "not finished" // and no ETA: nothing is running
	}
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}
