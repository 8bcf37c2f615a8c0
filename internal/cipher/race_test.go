//go:build race

package cipher

// raceEnabled reports a -race build, under which the runtime and sync.Pool
// allocate on their own and allocation counts mean nothing.
const raceEnabled = true
