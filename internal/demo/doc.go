// Package demo runs pollstack's embedded default: two stacks in one process
// joined by the in-memory link, each an engine.Core on its own (unpinned)
// loop, one answering and the other driving it, so the whole packet path runs
// without root or a NIC.
//
// Two modes:
//   - http (the default): the server core's TCP shard runs the http app on
//     port 8080; the client core's shard runs perf/load's HTTP/1.1 load
//     generators, tcp.Handlers that live on the client core (no goroutine
//     per connection), the ones behind 'pollstack bench'. They keep Conns
//     connections busy, a mix of short ones (cps: connect, one GET with
//     Connection: close, the server closes) and keep-alive ones (rps with
//     Requests GETs each, the last with Connection: close), and time every
//     request with the client core's clock (a short connection from its
//     connect). The server closes first and holds the TIME_WAIT, as HTTP
//     servers do: a client closing first would tie up its ephemeral ports
//     for 2MSL. When the run ends the client closes the keep-alive
//     connections still open.
//   - ping: the client keeps Window ICMP echo requests in flight.
//
// Run is called from an ordinary goroutine; it reaches the cores only through
// their loops' mailboxes.
package demo
