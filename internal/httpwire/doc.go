// Package httpwire holds the byte-level helpers HTTP/1.1 parsing needs on
// both ends of pollstack's HTTP traffic: the http app's responder and the
// load generator. They never allocate and keep no state, so any goroutine
// may call them.
package httpwire
