//go:build race

package main

// raceEnabled scales heavy integration tests down under the race detector.
const raceEnabled = true
