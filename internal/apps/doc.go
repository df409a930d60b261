// Package apps holds the applications pollstack runs on its cores,
// run-to-completion, as TCP handlers: echo, discard and a minimal HTTP/1.1
// server. Each app value belongs to one core (one shard); its callbacks run
// on that core's loop.
package apps
