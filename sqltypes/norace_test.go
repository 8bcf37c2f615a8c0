//go:build !race

package sqltypes_test

const raceEnabled = false
