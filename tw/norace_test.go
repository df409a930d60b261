//go:build !race

package tw

const raceEnabled = false
