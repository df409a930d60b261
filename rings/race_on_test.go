//go:build race

package rings

// underRace is true when the race detector is on; heavy tests scale down.
const underRace = true
