//go:build !race

package keystore

const raceEnabled = false
