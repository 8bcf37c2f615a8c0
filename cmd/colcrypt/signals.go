package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// signalName is how messages name a stop signal: by the key an operator
// pressed, or by the signal a supervisor (systemd, Kubernetes) sent, so
// that a SIGTERM is never answered with advice about Ctrl-C.
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "Ctrl-C"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// handleSignals turns SIGINT and SIGTERM into a clean stop. The first
// cancels ctx: the job finishes the batch in flight, which leaves a
// checkpoint to resume from, and the command ends with one message that
// names the signal. The bar, if any, says it is stopping, since a line
// printed under a bar would be drawn over. The second stops at once
// (still safe: an uncommitted batch leaves no trace).
func (c *cli) handleSignals(cancel context.CancelFunc) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		c.stopSig.Store(&sig)
		if v := c.view.Load(); v != nil {
			again := signalName(sig) + " again: stop now"
			v.stop(fmt.Sprintf("stopping after this batch (%s)", again))
		}
		cancel()
		sig = <-sigs
		fmt.Fprintf(c.stderr, "\ncolcrypt: stopped at once by a second %s; the batch in flight is rolled back; run the same command again to resume\n", signalName(sig))
		os.Exit(exitInterrupted)
	}()
}

// stoppedBy is the stop message's cause: the signal, or a cancelled
// context when none was received.
func (c *cli) stoppedBy() string {
	if s := c.stopSig.Load(); s != nil {
		return "stopped by " + signalName(*s)
	}
	return "interrupted"
}

func (c *cli) setView(v *progressView) { c.view.Store(v) }
