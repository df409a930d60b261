// Package netns runs code inside a named network namespace.
//
// It is setup code: the test bed, the AF_XDP link and tools call Do to create
// sockets, look up interfaces and attach programs in a namespace that
// `ip netns add` made (/run/netns/NAME). Nothing on a packet path calls it.
// Do may be called from any goroutine.
package netns
