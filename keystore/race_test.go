//go:build race

package keystore

// raceEnabled reports a -race build, whose allocations carry the race
// detector's shadow state, so heap sizes mean nothing.
const raceEnabled = true
