// Package apps holds the applications pollstack runs on its cores,
// run-to-completion, as TCP handlers: echo, discard and a minimal HTTP/1.1
// server. Each app value belongs to one core (one shard); its callbacks run
// on that core's loop. The HTTP server's timeouts (a request head's, the
// keep-alive wait's) are the connections' application timers in the
// shard's timer wheel (tcp.Conn.SetAppTimer): no goroutine, no clock.
package apps
