// Package harness holds what the side-by-side tools under perf/cmd share:
// the command skeleton (Main, NewFlagSet, the checks of the flags they
// share with Check and Refuse, Prepare, Finish with the report shown as a
// table or JSON), the steps their runs share (Pollstack, UpBed, Quote),
// medians and ratios of rounds, reading wrk's and bench's reports, the
// 1-minute load average, building the pollstack binary and detaching a
// leftover XDP program. Processes and nginx are internal/nsproc's.
//
// It is for tools and tests, never for the packet path.
package harness
