//go:build race

package faulttest_test

// raceEnabled reports whether the tests were built with -race.
const raceEnabled = true
