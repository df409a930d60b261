// Package load is pollstack's HTTP/1.1 load generator: one Gen per core,
// living on that core's loop as a set of tcp.Handler slots, with no
// goroutine per connection. It runs in two modes:
//
//   - RPS: keep-alive connections, one request outstanding on each;
//   - CPS: connect, one GET with Connection: close, read the response, the
//     server closes, the client closes (the server holds the TIME_WAIT).
//
// Closed loop (Rate 0): every slot sends its next request (RPS) or opens
// its next connection (CPS) as soon as the previous one finished; latency
// runs from the send (RPS) or the dial (CPS) to the end of the response.
//
// Open loop (Rate > 0): requests (RPS) or connections (CPS) start on a fixed
// schedule, one every 1/Rate seconds from Start. When no slot is free at
// the scheduled time the start waits for one, and its latency still runs
// from the scheduled time: the time spent waiting is the server's fault
// and is counted (coordinated omission corrected, as wrk2 does). A start
// more than LateSlack after its scheduled time counts as late.
//
// The generator is pure in the sense of tcp/: it reads no clock. Pump and
// the tcp.Handler calls take the time from their caller (the core's loop,
// or a test's virtual clock). Hook makes a rings.Link that pumps the
// generator at every receive poll of the engine core that owns the link.
// A Gen belongs to its core: only that core's loop calls its methods; Run
// drives a set of them from any goroutine through the loops' mailboxes.
package load
