// Package ringtest holds helpers for tests that move frames over rings links:
// an in-memory pair that closes itself when the test ends, sending and
// receiving whole frames as byte slices, and a clock a test advances by hand.
// Only tests import it.
//
// The helpers that take a testing.TB call its Fatal methods and so must run on
// the test's goroutine.
package ringtest
