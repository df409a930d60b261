// Package nsproc runs programs for the test beds and the perf tools:
// commands run to their end, long-running processes (in a network namespace
// through ip-netns(8)) watched for a ready line and stopped by their PID,
// and the one-worker nginx the bed's kernel side serves.
//
// It is for tools and tests, never for the packet path.
package nsproc
