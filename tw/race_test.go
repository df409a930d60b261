//go:build race

package tw

// raceEnabled scales the heavy tests down under the race detector.
const raceEnabled = true
