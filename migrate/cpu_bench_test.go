package migrate

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// cpuMeter adds up the CPU time a benchmark variant costs: this process's
// and that of the Postgres backends serving its database. On a machine
// that other work loads, a variant's wall time depends on what else runs
// beside it; its CPU time much less so. It needs the server on this
// machine (its processes readable under /proc); otherwise ok is false and
// only wall times are reported.
type cpuMeter struct {
	e    *env
	tick float64 // seconds per clock tick of /proc/<pid>/stat
}

// cpuSample is the CPU time used so far by this process and by each
// backend of the database, in seconds.
type cpuSample struct {
	self     float64
	backends map[int]float64
}

func newCPUMeter(e *env) *cpuMeter {
	// Linux reports utime and stime in USER_HZ ticks, 100 a second on
	// every architecture Go runs on.
	return &cpuMeter{e: e, tick: 0.01}
}

// sample reads the CPU times now; ok is false if a backend's times could
// not be read.
func (c *cpuMeter) sample(ctx context.Context) (s cpuSample, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, false
	}
	s.self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	rows, err := c.e.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return s, false
	}
	defer rows.Close()
	s.backends = map[int]float64{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return s, false
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return s, false
		}
		// Fields after the parenthesised command name: state is field 3,
		// utime and stime are fields 14 and 15.
		_, rest, found := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !found || len(f) < 13 {
			return s, false
		}
		ut, err1 := strconv.ParseFloat(f[11], 64)
		st, err2 := strconv.ParseFloat(f[12], 64)
		if err1 != nil || err2 != nil {
			return s, false
		}
		s.backends[pid] = (ut + st) * c.tick
	}
	return s, rows.Err() == nil
}

// since is the CPU seconds used between from and to, by this process
// and by the database's backends. A backend that exited between the two
// is missed: keep the pool's connections open.
func (c *cpuMeter) since(from, to cpuSample) (self, db float64) {
	for pid, t := range to.backends {
		db += t - from.backends[pid]
	}
	return to.self - from.self, db
}
