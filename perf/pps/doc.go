// Package pps is the raw packet-rate harness: a UDP frame generator and a
// sink that run over any rings.Link.
//
// Generate builds one UDP/IPv4 or UDP/IPv6 frame template with correct
// checksums, copies it into pool frames (varying the source port over a number
// of flows, with the UDP checksum fixed incrementally) and transmits batches
// as fast as the link takes them or at a fixed rate. Sink receives batches,
// counts them and gives the frames back to the pool without looking inside.
//
// Both run a poll loop on the calling goroutine until their context ends and
// own their link for that time; the caller pins the goroutine to a CPU if it
// wants to. Neither allocates in steady state. A Live meter lets another
// goroutine read the running counters; onSample is called on the loop's
// goroutine once per interval and once at the end.
package pps
