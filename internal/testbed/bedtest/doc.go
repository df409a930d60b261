// Package bedtest holds the test bed's helpers for tests: a bed made for a
// test and removed when it ends, and the skips (or, with
// POLLSTACK_REQUIRE_PRIVILEGED=1, failures) where a machine cannot build
// one or lacks a tool. Only tests import it, so package testing stays out
// of the programs.
package bedtest
