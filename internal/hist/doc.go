// Package hist is a log-linear latency histogram in the manner of
// HdrHistogram: each power of two is cut into 2^subBits linear buckets, so
// a recorded value is off by at most 1/2^subBits of itself (about 1.6%).
// Record never allocates. A Histogram is not safe for concurrent use; merge
// per-goroutine histograms instead.
package hist
