//go:build race

package h1

// raceEnabled scales the heavy tests down under the race detector: fewer
// split positions for long inputs.
const raceEnabled = true
