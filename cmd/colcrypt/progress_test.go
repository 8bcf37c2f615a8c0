package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/colcrypt/colcrypt/migrate"
)

// lastFrame is the last bar drawn: what stays on the operator's screen.
func lastFrame(out string) string {
	frames := strings.Split(strings.TrimRight(out, "\n"), "\r")
	return strings.TrimSuffix(frames[len(frames)-1], "\x1b[K")
}

// TestProgressBarFrames drives the terminal bar as a job does and reads
// its frames: the first has no rate, a stopped run ends on the count it
// reached (not a full bar), a finished one on 100%, the ETA is labelled,
// a stop request shows on the bar.
func TestProgressBarFrames(t *testing.T) {
	var out bytes.Buffer
	p := &progressView{w: &out, desc: "encrypt users.email", terminal: true}
	p.update(migrate.Progress{Done: 0, Total: 1000})
	if f := lastFrame(out.String()); strings.Contains(f, "rows/s") || strings.Contains(f, "rows/hr") || strings.Contains(f, "ETA") {
		t.Errorf("first frame %q shows a rate or an ETA before there is one", f)
	}
	// A second in, 400 rows: a rate and a labelled ETA.
	p.start = p.start.Add(-2 * time.Second)
	p.last = time.Time{}
	p.update(migrate.Progress{Done: 400, ThisRun: 400, Total: 1000})
	f := lastFrame(out.String())
	if !strings.Contains(f, "400/1000 rows (40%)") || !strings.Contains(f, "rows/s, ETA ") {
		t.Errorf("frame %q, want 400/1000 rows (40%%), a rate and a labelled ETA", f)
	}
	p.stop("stopping after this batch (Ctrl-C again: stop now)")
	if f := lastFrame(out.String()); !strings.Contains(f, "stopping after this batch") || strings.Contains(f, "ETA") {
		t.Errorf("frame after a stop request %q, want it on the bar, without an ETA", f)
	}
	// Cut to the terminal's width, so that "\r" redraws the whole frame.
	p.width = 40
	p.stop("stopping after this batch (Ctrl-C again: stop now)")
	if f := lastFrame(out.String()); len([]rune(f)) != 39 {
		t.Errorf("frame on a 40-column terminal = %q (%d columns), want 39", f, len([]rune(f)))
	}
	p.width = 0
	// A late report of fewer rows never steps the bar back.
	p.last = time.Time{}
	p.update(migrate.Progress{Done: 300, ThisRun: 300, Total: 1000})
	p.finish(false)
	f = lastFrame(out.String())
	if !strings.Contains(f, "400/1000 rows (40%), not finished") || strings.Contains(f, "100%") || strings.Contains(f, "ETA") || !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("last frame of a stopped run %q, want 400/1000 (40%%) and a newline after it", f)
	}
	if strings.Contains(f, "[========================]") {
		t.Errorf("last frame of a stopped run %q shows a full bar", f)
	}

	// 999 of 1000 is not 100%, and a finished job whose estimate was high
	// ends on a full bar.
	out.Reset()
	p = &progressView{w: &out, desc: "encrypt users.email", terminal: true}
	p.update(migrate.Progress{Done: 999, ThisRun: 999, Total: 1000})
	if f := lastFrame(out.String()); !strings.Contains(f, "(99%)") {
		t.Errorf("frame at 999/1000 = %q, want 99%%", f)
	}
	p.finish(true)
	if f := lastFrame(out.String()); !strings.Contains(f, "999/999 rows (100%)") || !strings.Contains(f, "[========================]") {
		t.Errorf("last frame of a finished job = %q, want a full bar", f)
	}
}
