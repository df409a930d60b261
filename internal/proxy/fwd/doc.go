// Package fwd is the proxy's forwarding: an application on each
// core's TCP shard (the tcp.Handler path) that accepts client connections on
// the configured listeners, opens each one's backend connection on the same
// core, and moves bytes between the two legs there, run to completion, with
// no lock, no goroutine and no hand-off between cores.
//
// # One core per proxied connection
//
// A client connection is served by the core that owns its 4-tuple. Its
// backend leg is dialled from that core's shard with an ephemeral source
// port the shard picks so that the backend's replies hash (RSS) to the same
// core, as every active open of the engine does. The shard's port range is
// the per-core pool of source ports for each backend address: about 27,700
// concurrent connections per core to one backend with two cores and the
// range the proxy command sets (10000..65535); past it the dial fails with EADDRNOTAVAIL, counted as
// connect_noport, and the client connection is reset.
//
// # Forwarding
//
// Bytes move from one leg's receive buffer to the other leg's send buffer
// (tcp.Conn.Peek, Write, Consume): one copy, no user buffer. A leg's bytes
// are consumed only as far as the other leg's send buffer takes them, so a
// slow reader on one side fills the buffers and closes the window on the
// other: memory per proxied connection is bounded by the four buffers.
// A FIN is passed on after the data before it (CloseWrite), in each
// direction on its own, so a client that shuts its write side still gets
// the backend's whole answer. A reset or timeout on either leg resets the
// other. The client leg's bytes wait in its receive buffer until the
// backend leg is established, so a connect that fails can be retried on
// another server without losing them.
//
// # Balancing, health, limits
//
// Each core keeps its own balance.Set and balancer per backend group, and
// its own health.Checker when the group has checks: probes are dialled from
// the core (a TCP connect, reset as soon as it is answered, so no probe
// leaves TIME_WAIT behind). A connect that is refused, reset or times out is
// retried once on another server. Listener and server maxconn and the
// group's queue are split evenly among the cores (rounded up), so no core
// asks another before it admits a connection.
//
// # Who calls it
//
// The proxy command builds one App per core with New before the engine
// starts, on the core's shard; afterwards only the core's loop may call an
// App's methods, except Snapshot-reading through Published, which any
// goroutine may call.
package fwd
