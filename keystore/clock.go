package keystore

import (
	"sync/atomic"
	"time"
)

// clock gives the cache its notion of now, in ticks: nanoseconds since
// the Store was made.
//
// Reading the time is the most expensive part of a warm Active: on some
// virtual machines time.Now is a system call (hundreds of nanoseconds,
// more than the rest of the lookup); on this project's 2-core VMs reading
// it on every lookup makes a warm open about 1.5x as slow
// (BenchmarkConcClock: 0.64-0.69 of the time with the coarse clock). So by default the hot path reads a
// coarse clock instead: an atomic integer the janitor advances every
// resolution (100ms, or TTL/20 when shorter, at least 1ms). A key may then
// be used up to one resolution past its TTL; the TTL is minutes, so that
// is noise. Slow paths, which set expiries, read the precise clock.
//
// With withClock (tests), both read the given clock.
type clock struct {
	wall   func() time.Time
	custom bool
	base   time.Time
	res    time.Duration
	coarse atomic.Int64
}

func newClock(custom func() time.Time, ttl time.Duration) *clock {
	c := &clock{wall: time.Now, res: min(100*time.Millisecond, max(ttl/20, time.Millisecond))}
	if custom != nil {
		c.wall, c.custom = custom, true
	}
	c.base = c.wall()
	return c
}

// fast returns now for the hot path: the coarse clock, or the custom one.
func (c *clock) fast() int64 {
	if !c.custom {
		return c.coarse.Load()
	}
	return int64(c.wall().Sub(c.base))
}

// precise returns now read from the clock itself.
func (c *clock) precise() int64 { return int64(c.wall().Sub(c.base)) }

// advance moves the coarse clock to the precise time; the janitor calls
// it every resolution.
func (c *clock) advance() { c.coarse.Store(c.precise()) }

// ticks converts a duration to ticks.
func ticks(d time.Duration) int64 { return int64(d) }
