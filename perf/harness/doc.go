// Package harness holds what the side-by-side tools under perf/cmd share:
// medians and ratios of rounds, reading wrk's report, the 1-minute load
// average, building the pollstack binary, processes started in a network
// namespace and stopped by their PID, and the one-worker nginx the bed's
// kernel side serves.
//
// It is for tools and tests, never for the packet path.
package harness
